"""A small YAML writer for Kubernetes objects (plain dicts, lists, strings, numbers, bools).

PyYAML's dumper spends most of its time in its Python representer layer, which on a large
stack costs more than everything else `iac render` does (docs/benchmarks.md: the
`yaml.dump_all` reference row). Manifests only hold plain data, so
this writer emits block-style YAML directly, quoting (as JSON, which YAML reads as
double-quoted scalars) every string that a YAML 1.1 or 1.2 reader could take for anything
but that string. Tests hold `yaml.safe_load(dump(x)) == x` on every rendered object and on
random data.

Speed: such a stack is 1.1 million keys and 0.7 million strings, but only about a thousand
distinct keys and 50,000 distinct strings. A `Writer` remembers the text of each key and
string it has written (for the documents of one render, never across renders), so the
quoting rules run once per distinct value and the walk itself does little more than
concatenate. That walk is done in C when the package was built with its extension
(`_yaml_walk.c`, which calls back into this module for every quoting decision), else by the
Python methods below; both write the same bytes (tests compare them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring
from typing import Any

_native_walk: Callable[..., str] | None
try:
    from iac.render._yaml_walk import walk as _native_walk
except ImportError:  # built without a C compiler: the Python walk writes the same text
    _native_walk = None

NATIVE = _native_walk is not None
"""Whether the C walk is available (an install built with a C compiler)."""

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
    return Writer().dump(value)


class Writer:
    """Writes YAML documents, remembering the text of every key and string it wrote.

    Use one per batch of documents (a render); the memory it keeps is bounded by the
    distinct keys and strings of that batch.
    """

    __slots__ = ("_keys", "_native", "_strings")

    def __init__(self, native: bool = NATIVE) -> None:
        """`native=False` walks in Python even where the C walk is available (tests compare
        the two)."""
        if native and not NATIVE:
            raise RuntimeError("iac was installed without its C extension (_yaml_walk)")
        self._native = native
        self._keys: dict[Any, str] = {}
        """Key → `key:`."""
        self._strings: dict[str, str] = {}
        """String → ` text` (with its separating space), for strings written as one line."""

    def dump(self, value: Any, start: str = "") -> str:
        """One YAML document, after a `start` line if one is given (`---`)."""
        return self.dump_all([value], start)

    def dump_all(self, values: Iterable[Any], start: str = "---") -> str:
        """YAML documents, each after a `start` line (`---`)."""
        documents = values if type(values) is list else list(values)
        if self._native and _native_walk is not None:
            try:
                return _native_walk(documents, start, self._keys, self._strings, _HOOKS)
            except UnicodeEncodeError:
                # A lone surrogate, which UTF-8 cannot hold: the Python walk keeps it as it
                # is, for the document that has one.
                if len(documents) > 1:
                    return "".join([self.dump(value, start) for value in documents])
        return "".join([self._dump(value, start) for value in documents])

    def _dump(self, value: Any, start: str) -> str:
        """The Python walk of one document."""
        lines: list[str] = [start] if start else []
        if isinstance(value, dict) and value:
            self._dict(value, "", "", lines)
        elif isinstance(value, list) and value:
            self._list(value, "", "", lines)
        else:
            lines.append(_empty_or_scalar(value))
        lines.append("")  # the final newline, without copying the document to add it
        return "\n".join(lines)

    # Both walkers take `pad`, the indentation of the container's lines, and `lead`, what
    # starts its first line instead: `pad` itself, or the `- ` of a list item holding it.

    def _dict(self, value: dict[Any, Any], pad: str, lead: str, lines: list[str]) -> None:
        keys, strings, append = self._keys, self._strings, lines.append
        inner = pad + "  "
        for key, item in value.items():
            head = keys.get(key)
            if head is None:
                head = _key_head(key)
                if type(key) is str:
                    keys[key] = head
            kind = type(item)
            if kind is str:
                text = strings.get(item)
                if text is None:
                    block = _literal_lines(item) if "\n" in item else None
                    if block is not None:
                        _literal(lead + head, block, inner, lines)
                        lead = pad
                        continue
                    text = strings[item] = " " + _scalar(item)
                append(lead + head + text)
            elif kind is dict and item:
                append(lead + head)
                self._dict(item, inner, inner, lines)
            elif kind is list and item:
                append(lead + head)
                # Lists sit at the key's indent, as kubectl writes them.
                self._list(item, pad, pad, lines)
            elif kind is int:
                append(f"{lead}{head} {item}")
            else:
                self._other_value(lead + head, item, pad, lines)
            lead = pad

    def _other_value(self, head: str, item: Any, pad: str, lines: list[str]) -> None:
        """A mapping value of any other type (empty containers, subclasses, None, floats)."""
        if isinstance(item, dict) and item:
            lines.append(head)
            self._dict(item, pad + "  ", pad + "  ", lines)
        elif isinstance(item, list) and item:
            lines.append(head)
            self._list(item, pad, pad, lines)
        elif (block := _literal_lines(item)) is not None:
            _literal(head, block, pad + "  ", lines)
        else:
            lines.append(f"{head} {_empty_or_scalar(item)}")

    def _list(self, value: list[Any], pad: str, lead: str, lines: list[str]) -> None:
        strings, append = self._strings, lines.append
        inner = pad + "  "
        for item in value:
            kind = type(item)
            if kind is str:
                text = strings.get(item)
                if text is None:
                    # A multi-line string is quoted in a list, but may be a literal block as
                    # a mapping value: remember only one-line strings, which are the same in both.
                    text = " " + _scalar(item)
                    if "\n" not in item:
                        strings[item] = text
                append(lead + "-" + text)
            elif isinstance(item, dict) and item:
                self._dict(item, inner, lead + "- ", lines)
            elif isinstance(item, list) and item:
                self._list(item, inner, lead + "- ", lines)
            else:
                append(f"{lead}- {_empty_or_scalar(item)}")
            lead = pad


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


def _key_head(key: Any) -> str:
    return f"{_key(key)}:"


# Escaped beyond what JSON escapes (C0 controls): characters YAML does not allow in a
# document, and those it reads as line breaks (NEL, LS, PS) and would fold.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def _quoted(text: str) -> str:
    """A double-quoted scalar: JSON string syntax (json.dumps with ensure_ascii=False) is
    valid YAML."""
    quoted: str = encode_basestring(text)
    if quoted.isascii() and "\x7f" not in quoted:  # nothing to escape; both checks run in C
        return quoted
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


# A multi-line string (a dashboard's JSON) is written as a literal block, which keeps it
# readable in manifests and diffs. Only text a literal block reproduces exactly: no
# characters YAML would escape or fold, no leading space on the first line (that would need
# an indentation indicator), at most one trailing newline, no trailing spaces.
_LITERAL_BAD_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_LITERAL_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"
"""The ASCII characters a literal block holds as they are."""


def _literal_lines(value: Any) -> list[str] | None:
    """The lines of `value` if a literal block reproduces it exactly, else None."""
    if (
        not isinstance(value, str)
        or "\n" not in value.rstrip("\n")
        or value.startswith((" ", "\t", "\n"))
        or value.endswith("\n\n")
    ):
        return None
    lines = value.split("\n")
    for line in lines:
        if line.endswith((" ", "\t")):
            return None
    if value.isascii():
        # Deleting every allowed byte leaves the bad ones: one pass in C, a tenth of the
        # time of the checks below on a dashboard (ten thousand characters).
        return None if value.encode().translate(None, _LITERAL_ASCII) else lines
    for line in lines:
        # Printable text has none of the bad characters; checking that is much faster than
        # searching.
        if not line.isprintable() and _LITERAL_BAD_CHARACTER.search(line):
            return None
    return lines


def _literal(head: str, lines: list[str], pad: str, out: list[str]) -> None:
    """`head: |` (or `|-` without a final newline), then the text's lines at `pad`."""
    if lines[-1]:
        out.append(head + " |-")
    else:
        out.append(head + " |")
        lines.pop()
    out.extend(pad + line if line else "" for line in lines)


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


_HOOKS = (_key_head, _scalar, _empty_or_scalar, _literal_lines)
"""What the C walk calls for the text of a key or value it has not seen (its `hooks`)."""
