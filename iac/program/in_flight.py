"""`iac up`'s record of the apply in flight on a Pulumi stack (`InFlight`), and how a
Ctrl-C waits for the engine to save (`ctrl_c_after_the_engine`): what skipping Pulumi's
per-step checkpoints (`iac.program.automation.SKIP_CHECKPOINTS`) needs so that a killed
update loses track of nothing (docs/program.md, "Large stacks")."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iac.errors import IacError
from iac.program.shards import split_name
from iac.rollout.executor import Progress

IN_FLIGHT_FOLDER = ".iac"
"""Where, in the project folder, `iac up` records the apply in flight (`InFlight`)."""

THIS_RUN = uuid.uuid4().hex
"""Which process wrote a record (`InFlight`): not the pid, which a later run in a fresh
container may well get again."""


class InFlight:
    """`iac up`'s record of the apply in flight on a stack, in the project folder
    (`.iac/STACK.in-flight.json`): the ids of the objects it declares, the stack files they
    were compiled from and the rollout's progress.

    With checkpoints skipped (`SKIP_CHECKPOINTS`), an update killed outright leaves the state
    as it was before it, without the objects it had created; the record outlives it. The next
    apply declaring every recorded object registers them all again (creating an object that
    exists is a server-side apply, which takes it over; rendering to a folder rewrites the
    file), so nothing is lost, and the record goes once that apply has ended. An apply that
    no longer declares some of them would leave them in the cluster unknown to Pulumi: it is
    refused, saying which, until the stack files the killed update was applying (written
    next to the record) are applied first."""

    def __init__(self, project_dir: Path, stack_name: str) -> None:
        self.folder = project_dir / IN_FLIGHT_FOLDER
        self.path = self.folder / f"{stack_name}.in-flight.json"
        self.stack_name = stack_name

    def write(self, declared: list[str], sources: Any, progress: Progress) -> str | None:
        """Record an apply about to start; returns the record it replaces (if any)."""
        try:
            before: str | None = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            before = None
        self.folder.mkdir(exist_ok=True)
        record = {
            "objects": declared,
            "sources": sources,
            "progress": progress.to_dict(),
            "run": THIS_RUN,
        }
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(self.path)  # never a half-written record
        return before

    def restore(self, before: str | None) -> None:
        """Put back the record `write` replaced (an apply that did not start)."""
        if before is None:
            self.clear()
        else:
            self.path.write_text(before, encoding="utf-8")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def clear_if_saved(self, saved: Callable[[], Any]) -> None:
        """Drop a record of another run whose update Pulumi saved: `saved()` (the stack's
        `rollout` output, read only when a record exists) is the record's progress. The
        outputs are saved with the state when an update ends, so that run was killed
        between the engine's end and the record's removal, and the state knows every object
        it declared (seen in CI: a kill right after stage 1 refused the resumed stage 2)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        if not isinstance(record, dict) or record.get("run") == THIS_RUN:
            return
        progress = record.get("progress")
        if progress is not None and progress == saved():
            self.clear()

    def check(self, declared: set[str], report: Callable[[str], None]) -> set[str]:
        """Before an apply declaring `declared`: raise IacError when a killed update left
        objects this apply would not register (see the class). Returns the recorded ids to
        keep in the record: those of an apply of this process that a Ctrl-C interrupted
        (its engine, still running, saves the state when it stops; until then they stay
        recorded)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return set()
        except ValueError:
            record = {}
        recorded = record.get("objects") if isinstance(record, dict) else None
        if not isinstance(recorded, list):
            raise IacError(
                f"{self.path} is not a record iac up can read: remove it once you have "
                "checked that the cluster holds no object the stack does not declare"
            )
        if record.get("run") == THIS_RUN:
            return set(map(str, recorded))
        missing = sorted(set(map(str, recorded)) - declared)
        if not missing:
            report(
                f"the last update of stack {self.stack_name} was killed before Pulumi saved "
                "its state; this apply registers again every object it may have created"
            )
            return set()
        sources = record.get("sources")
        where = self.folder / f"{self.stack_name}.in-flight"
        written = _write_sources(sources, where) if isinstance(sources, dict) else None
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        first = (
            f"apply the stack files it was applying first: `iac up {written} --stack "
            f"{split_name(self.stack_name)[0]}`, then this one"
            if written
            else "apply a stack declaring them first"
        )
        raise IacError(
            f"the last update of stack {self.stack_name} was killed before Pulumi saved its "
            f"state, while applying {len(missing)} object(s) this apply does not declare "
            f"({shown}): they may exist in the cluster without Pulumi knowing, and would be "
            f"left there. Nothing applied; {first} (or, having checked the cluster holds none "
            f"of them, remove {self.path})"
        )


@contextmanager
def ctrl_c_after_the_engine() -> Iterator[list[bool]]:
    """A first Ctrl-C (SIGINT) while the engine runs is raised as KeyboardInterrupt only
    once the engine has ended: it got the signal too (one process group), cancels the update
    and saves the state, which takes a moment. Raised at once, the interrupt would leave the
    engine saving behind iac's back. A second Ctrl-C is raised at once. Yields a list that
    holds True once a Ctrl-C came."""
    interrupted: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def first(signum: int, frame: Any) -> None:
        interrupted.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield interrupted
    except Exception:
        if interrupted:  # the cancelled update's error
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def _write_sources(sources: dict[str, Any], where: Path) -> Path | None:
    """The recorded stack files written under `where`; the stack file's path."""
    files = sources.get("files")
    if not isinstance(files, dict) or not isinstance(sources.get("stack"), str):
        return None
    root = where.resolve()
    for relative, text in files.items():
        path = (root / str(relative)).resolve()
        if path.is_relative_to(root):  # recorded paths stay inside the folder
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(text), encoding="utf-8")
    return root / str(sources["stack"])
