"""Reading stack and module files: YAML with positions, imports, templates, merged levels."""

from iac.load.stack_loader import STACK_FILE_NAME, load_stack, stack_file

__all__ = ["STACK_FILE_NAME", "load_stack", "stack_file"]
