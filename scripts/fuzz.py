"""The long fuzz run: `python scripts/fuzz.py --examples 5000`. Prints how many stacks were
tried, how many were valid, and every crash (none expected); exit 1 on a crash."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fuzz_harness import mutations, run_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    counts = {"tried": 0, "valid": 0, "invalid": 0}
    crashes: list[str] = []

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations())
    def run(text: str) -> None:
        counts["tried"] += 1
        try:
            code = run_one(text)
        except AssertionError as exc:
            crashes.append(f"{exc}\n--- stack ---\n{text}")
            return
        counts["valid" if code == 0 else "invalid"] += 1

    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(
        f"fuzz: {counts['tried']} stacks in {seconds:.0f} s: {counts['valid']} valid, "
        f"{counts['invalid']} rejected with located diagnostics, {len(crashes)} crashes"
    )
    for crash in crashes[:10]:
        print(crash)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    _ = st  # strategies come from the harness
    main()
