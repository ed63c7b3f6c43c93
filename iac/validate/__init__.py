"""Whole-stack checks, and the one call that loads and checks a stack."""

from __future__ import annotations

from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.load import load_stack
from iac.spec.resolved import ResolvedStack
from iac.validate.auth import check_auth
from iac.validate.credentials import check_credentials
from iac.validate.endpoints import check_endpoints
from iac.validate.references import check_references
from iac.validate.renames import check_previous_names

__all__ = ["check_references", "check_stack", "checked_in_part"]


def check_stack(path: str, diagnostics: Diagnostics | None = None) -> ResolvedStack:
    """Load `path` and run every check. Raises StackInvalid listing all errors.

    Warnings are left in `diagnostics` (when given) for the caller to show.
    """
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    stack = checked_in_part(path, diagnostics)
    if stack is None or diagnostics.has_errors():
        raise StackInvalid(diagnostics.sorted())
    return stack


def checked_in_part(path: str, diagnostics: Diagnostics) -> ResolvedStack | None:
    """Load `path` and run every check, reporting to `diagnostics` without raising: the
    stack as loaded (the models that loaded cleanly; complete only where `diagnostics` has
    no errors), or None when the file cannot be read at all (ModuleFileGiven when it is a
    module file). For a caller that makes do with the valid part (`iac plan` of an invalid
    base); others call `check_stack`."""
    stack = load_stack(path, diagnostics)
    if stack is not None:
        check_references(stack, diagnostics)
        check_previous_names(stack, diagnostics)
        check_endpoints(stack, diagnostics)
        check_credentials(stack, diagnostics)
        check_auth(stack, diagnostics)
    return stack
