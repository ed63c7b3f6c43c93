"""The errors `iac` raises on purpose, handled once at the command-line boundary.

    IacError                 a problem the user can fix; printed without a traceback, exit 1
     └── StackInvalid        stack files with errors; carries every diagnostic found
          └── ModuleFileGiven  a module file named where a stack file goes

Anything else escaping to the CLI is a bug in `iac` and keeps its traceback.
"""

from __future__ import annotations

from iac.diagnostics import Diagnostic


class IacError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""

    exit_code = 1


class StackInvalid(IacError):
    """One or more stack files have errors; `diagnostics` lists all of them in file order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = sum(1 for d in diagnostics if d.severity == "error")
        super().__init__(f"{errors} error{'s' if errors != 1 else ''} in stack files")

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


class ModuleFileGiven(StackInvalid):
    """A module file (templates for stacks to import) named where a stack file goes. Its
    one diagnostic says so; `iac validate`, which checks module files too, checks it as a
    module instead."""

    def __init__(self, file: str, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics)
        self.file = file
        """The module file, as the loader named it."""
