"""A small YAML writer for Kubernetes objects (plain dicts, lists, strings, numbers, bools).

PyYAML's dumper spends most of its time in its Python representer layer: on a 1,000-model
stack (12,000 objects) it alone takes seconds. Manifests only hold plain data, so this
writer emits block-style YAML directly, quoting (as JSON, which YAML reads as double-quoted
scalars) every string that a YAML 1.1 or 1.2 reader could take for anything but that
string. Tests hold `yaml.safe_load(dump(x)) == x` on every rendered object and on random
data.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Plain (unquoted) only what cannot be read as another type or as YAML syntax: an optional
# `-`/`--` then a letter or '/' (never a digit: no number, date or base-60 reading), then
# letters, digits and . _ / : = @ + - without spaces, not ending in ':'; and not a YAML 1.1
# bool or null word.
_PLAIN = re.compile(r"^(?:--?)?[A-Za-z/][A-Za-z0-9._/:=@+-]*(?<!:)$")
# YAML 1.1 booleans and nulls, compared case-insensitively.
_SPECIAL = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])
_KEY_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9._/-]*$")


def dump(value: Any) -> str:
    """One YAML document (without the leading `---`)."""
    lines: list[str] = []
    _block(value, 0, lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr is exact; YAML 1.1 needs a '.' in a float ("5e-324" would read as text).
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            return text.replace("inf", ".inf").replace("nan", ".nan")
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _SPECIAL:
            return value
        return _quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(key: Any) -> str:
    if isinstance(key, str) and _KEY_PLAIN.fullmatch(key) and key.lower() not in _SPECIAL:
        return key
    return _quoted(str(key))


# Escaped beyond what JSON escapes (C0 controls): characters YAML does not allow in a
# document, and those it reads as line breaks (NEL, LS, PS) and would fold.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def _quoted(text: str) -> str:
    """A double-quoted scalar: JSON string syntax is valid YAML."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _block(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
            return
        for key, item in value.items():
            head = f"{pad}{_key(key)}:"
            if isinstance(item, dict) and item:
                lines.append(head)
                _block(item, indent + 2, lines)
            elif isinstance(item, list) and item:
                lines.append(head)
                _block(item, indent, lines)  # lists sit at the key's indent, as kubectl writes
            elif _literal_ok(item):
                lines.append(f"{head} {_literal_header(item)}")
                lines.extend(
                    f"{pad}  {line}" if line else ""
                    for line in item.split("\n")[: _line_count(item)]
                )
            else:
                lines.append(f"{head} {_empty_or_scalar(item)}")
        return
    if isinstance(value, list):
        if not value:
            lines.append(pad + "[]")
            return
        for item in value:
            if isinstance(item, dict | list) and item:
                start = len(lines)
                _block(item, indent + 2, lines)
                lines[start] = pad + "- " + lines[start][indent + 2 :]
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item)}")
        return
    lines.append(pad + _scalar(value))


# A multi-line string (a dashboard's JSON) is written as a literal block, which keeps it
# readable in manifests and diffs. Only text a literal block reproduces exactly: no
# characters YAML would escape or fold, no leading space on the first line (that would need
# an indentation indicator), at most one trailing newline, no trailing spaces.
_LITERAL_BAD = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]|[ \t]\n|[ \t]$"
)


def _literal_ok(value: Any) -> bool:
    return (
        isinstance(value, str)
        and "\n" in value.rstrip("\n")
        and not value.startswith((" ", "\t", "\n"))
        and not value.endswith("\n\n")
        and not _LITERAL_BAD.search(value)
    )


def _literal_header(value: str) -> str:
    return "|" if value.endswith("\n") else "|-"


def _line_count(value: str) -> int:
    return value.count("\n") + (0 if value.endswith("\n") else 1)


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
