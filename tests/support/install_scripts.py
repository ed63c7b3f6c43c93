"""Run a project install script (`scripts/install-pulumi-engine`, `scripts/install-control-plane`)
for the tests: it prints one bin dir on stdout, logs on stderr. A failure fails the test
session with the end of the log; nothing is skipped."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def install(script: Path, log_path: Path, timeout_s: int, required: Sequence[str]) -> Path:
    """Run `script`; return the bin dir it prints, holding every binary in `required`."""
    if not os.access(script, os.X_OK):
        pytest.fail(f"{script} is missing or not executable", pytrace=False)
    with log_path.open("w") as log:
        try:
            proc: subprocess.CompletedProcess[str] | None = subprocess.run(
                [str(script)],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            proc = None
    log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    if proc is None or proc.returncode != 0:
        why = f"did not finish within {timeout_s}s" if proc is None else f"exited {proc.returncode}"
        pytest.fail(f"{script} {why} (full log: {log_path})\n{log_tail}", pytrace=False)
    lines = proc.stdout.splitlines()
    if len(lines) != 1 or not Path(lines[0]).is_absolute():
        pytest.fail(
            f"{script} must print exactly one absolute bin dir on stdout, got {proc.stdout!r}",
            pytrace=False,
        )
    bin_dir = Path(lines[0])
    missing = [b for b in required if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        pytest.fail(f"{bin_dir} lacks {', '.join(missing)}", pytrace=False)
    return bin_dir
