# The C walk of iac.render.yaml_text.Writer (_yaml_walk.c); see that file's header.
from collections.abc import Callable
from typing import Any

def walk(
    documents: list[Any],
    start: str,
    keys: dict[Any, str],
    strings: dict[str, str],
    hooks: tuple[
        Callable[[Any], str],
        Callable[[Any], str],
        Callable[[Any], str],
        Callable[[Any], list[str] | None],
    ],
    /,
) -> str: ...
