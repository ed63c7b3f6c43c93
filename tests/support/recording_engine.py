"""A stand-in for the engine the rollout executor drives: it applies nothing, records each
stage it was asked to apply, and can fail on one."""

from __future__ import annotations

from iac.compile import Compiled
from iac.rollout.executor import EngineError, Progress, digest


class Recorder:
    """Applies nothing; records what it was asked to apply, and can fail on a stage."""

    def __init__(self, fail_at: int | None = None, recorded: Progress | None = None) -> None:
        self.applied: list[tuple[str, Progress]] = []
        self.fail_at = fail_at
        self.recorded = recorded

    def apply(self, compiled: Compiled, progress: Progress) -> None:
        if (
            self.fail_at is not None
            and progress.stage == self.fail_at
            and progress.status != "rolled-back"
        ):
            raise EngineError(f"Deployment llama-v5 did not become ready (stage {progress.stage})")
        self.applied.append((digest(compiled), progress))
        self.recorded = progress

    def progress(self) -> Progress | None:
        return self.recorded
