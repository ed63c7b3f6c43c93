"""Edits of a YAML file's text at the positions its parser reports.

A round trip through a YAML library re-indents, re-quotes and re-wraps the file. Here the
file stays what it was, character for character, outside the spans an edit replaces, and
each edit is written in the style of what surrounds it: in a flow mapping `, key: value`,
in a block mapping a line indented as its siblings; a value keeps its quotes; a comment
aligned in a column stays in it.

An edit inside a node that the file uses in more than one place (an anchor and its aliases,
a `<<` merge) would change every place: it is refused, naming them.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import re
from dataclasses import dataclass
from typing import Any

import yaml

from iac.edit.nodes import (
    Node,
    block_step,
    compose,
    merge_route,
    merges_in,
    name_paths,
    quote_of,
    written_within,
)
from iac.errors import IacError

_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
"""YAML 1.1's line breaks, as PyYAML and libyaml count lines."""
_MERGE_USE = re.compile(r"\.?<<(\[\d+\])?$")
"""The end of the path of a `<<` source: `models.b.<<`, `models.b.<<[1]`."""
_PROPERTIES = re.compile(r"(?:[&!][^\s,\[\]{}]*\s+)*")
"""An anchor and a tag in front of a value (`&name !!str v3`)."""

Path = tuple[str, ...]


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


class Editor:
    """Edits of one document's text, kept as splices until `result`.

    Every edit also records what it means for the data (`intended`): `expected` applies
    that to the data as loaded, for the caller to check the edited file loads to it.
    """

    def __init__(self, file: str, text: str, data: Any) -> None:
        self.file = file
        """The file's name, for messages."""
        self.text = text
        self.data = data
        """The document as loaded (merges applied), to compare values with."""
        self.intended: list[tuple[str, Path, Any]] = []
        """("set", path, value) and ("delete", path, None), in order."""
        self._splices: list[_Splice] = []
        self._line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
        found = _LINE_BREAK.search(text)
        self._newline = found.group() if found else "\n"
        self.root = compose(text, self._line_starts)
        name_paths(self.root, "")

    # -- the edits ----------------------------------------------------------------------

    def set(self, mapping: Path, key: str, value: Any, after: str | None = None) -> None:
        """Set `key` in the mapping at `mapping` to `value` (text, a number, or a mapping of
        those). A value written already is replaced where it stands; a new key goes after
        the key `after` (default: the last), written as its siblings are."""
        node = self._mapping(mapping, key)
        self.intended.append(("set", (*mapping, key), value))
        if node.is_null:  # written empty: `autoscaling:` or `~`
            self._replace_value((*mapping,), node, {key: value}, quote_of(node.key))
            return
        own = node.own(key)
        if own is not None:
            self._replace_value((*mapping, key), own[1], value)
        elif node.flow:
            self._insert_in_flow(node, key, value, after)
        else:
            self._insert_in_block(node, key, value, after)

    def merge_into(self, mapping: Path, key: str, values: dict[str, Any]) -> None:
        """Each of `values` into the mapping `mapping.key` (made if missing); the rest of
        that mapping kept. A value it has already is left alone."""
        current = self.written_data((*mapping, key))
        if not isinstance(current, dict):
            self.set(mapping, key, values)
            return
        for sub, value in values.items():
            if sub not in current or current[sub] != value:
                self.set((*mapping, key), sub, value)

    def delete(self, mapping: Path, key: str) -> None:
        """Remove `key`, written in the mapping itself (not merged into it)."""
        node = self._mapping(mapping, key)
        pair = node.own(key)
        assert pair is not None, (mapping, key)
        key_node, value_node = pair
        self._check_removable((*mapping, key), value_node)
        self.intended.append(("delete", (*mapping, key), None))
        if not node.flow:
            self._remove_lines(self._line(key_node.start), self._last_line(value_node))
            return
        index = node.pairs.index(pair)
        if len(node.pairs) == 1:
            start, end = self._inside_braces(node)
            self._splice(start, end, "")
        elif index == 0:
            self._splice(key_node.start, node.pairs[1][0].start, "")
        else:
            previous = node.pairs[index - 1][1]
            self._splice(self._content_end(previous), self._content_end(value_node), "")

    def can_delete(self, mapping: Path, key: str) -> bool:
        """Whether removing `key` from the mapping leaves it without the key and not empty:
        the mapping writes it, it is not all of a block mapping, and no `<<` merges it in."""
        node = self._chain(mapping)[-1].resolved()
        if node.kind != "mapping" or node.own(key) is None:
            return False
        only = [k.value for k, _ in node.pairs] == [key]
        return not (only and not node.flow) and not merges_in(node, key)

    def replace_pair(self, mapping: Path, old: str, new: str, value: str) -> None:
        """`old: ...` becomes `new: value` where it stands (a split becomes one
        deployment); of a block value's lines, the key's comment is kept."""
        chain = self._chain((*mapping, old))
        self._check_unshared((*mapping, old), chain[:-1])
        owner = chain[-2].resolved()  # the mapping, or the `<<` source that writes `old`
        found = owner.own(old)
        assert found is not None, (mapping, old)
        key_node, value_node = found
        self._check_removable((*mapping, old), value_node)
        self.intended += [("delete", (*mapping, old), None), ("set", (*mapping, new), value)]
        text = f"{_key(new, quote_of(key_node))}: {_flow(value)}"
        if not value_node.is_block:
            self._splice(key_node.start, self._content_end(value_node), text)
            return
        key_line = self._line(key_node.start)
        line_end = self._line_end(key_line)
        comment = _comment_start(self.text, key_node.end, line_end)
        if comment is not None:
            gap = comment - self._text_end_before(comment)
            room = comment - key_node.start - len(text)
            text += " " * (max(1, room) if gap > 1 else gap) + self.text[comment:line_end]
        self._splice(key_node.start, self._line_end(self._last_line(value_node)), text)

    def written_data(self, path: Path) -> Any:
        """The data at `path` as loaded (merges applied): None where there is none."""
        return _lookup(self.data, path)

    def result(self) -> str:
        """The text with every edit made."""
        splices = sorted(self._splices, key=lambda s: (s.start, s.end))
        for earlier, later in itertools.pairwise(splices):
            if later.start < earlier.end:
                raise AssertionError(f"overlapping edits {earlier} {later}")
        splices = sorted(splices + self._alignments(splices), key=lambda s: (s.start, s.end))
        out, position = [], 0
        for splice in splices:
            out += [self.text[position : splice.start], splice.text]
            position = splice.end
        out.append(self.text[position:])
        return "".join(out)

    def expected(self) -> Any:
        """The data as the edits mean to change it."""
        data = copy.deepcopy(self.data)
        for action, path, value in self.intended:
            parent = data
            for key in path[:-1]:
                if parent.get(key) is None:
                    parent[key] = {}
                parent = parent[key]
            if action == "set":
                parent[path[-1]] = copy.deepcopy(value)
            else:
                del parent[path[-1]]
        return data

    # -- finding nodes --------------------------------------------------------------------

    def _mapping(self, path: Path, key: str) -> Node:
        """The mapping at `path` (or the empty value written there), checked unshared for
        an edit of its `key`."""
        chain = self._chain(path)
        self._check_unshared((*path, key), chain)
        node = chain[-1].resolved()
        assert node.kind == "mapping" or node.is_null, path
        return node

    def _chain(self, path: Path) -> list[Node]:
        """The nodes from the root to `path`: each alias and each `<<` source passed."""
        chain = [self.root]
        for key in path:
            node = chain[-1].resolved()
            route = merge_route(node, key)
            chain += route
            found = (route[-1].resolved() if route else node).own(key)
            assert found is not None, path
            chain.append(found[1])
        return chain

    def _check_unshared(self, path: Path, chain: list[Node]) -> None:
        """Nothing on the way to `path` appears elsewhere in the file too."""
        for node in chain:
            if node.resolved().aliases:
                raise IacError(self._shared_message(path, node.resolved()))

    def _check_removable(self, path: Path, node: Node) -> None:
        """A value replaced or removed (an alias itself may be) holds no anchor that the
        file uses elsewhere."""
        for inner in written_within(node):
            if inner.aliases:
                raise IacError(self._shared_message(path, inner))

    def _shared_message(self, path: Path, node: Node) -> str:
        uses = []
        for alias in node.aliases:
            merged = _MERGE_USE.search(alias.path)
            if merged:
                into = alias.path[: merged.start()] or "the document"
                uses.append(f"merged into {into} by `<<` at line {alias.line + 1}")
            else:
                uses.append(f"as {alias.path} by the alias at line {alias.line + 1}")
        return (
            f"{self.file}:{node.line + 1}:{node.column + 1}: cannot edit {'.'.join(path)} "
            f"alone: {node.path} is shared through the YAML anchor &{node.anchor}, used "
            f"again {'; '.join(uses)}, and an edit would change every place it is used. "
            "Write it out in full where it is used again (in place of the alias or `<<`), then "
            "run the command again"
        )

    # -- positions -------------------------------------------------------------------------

    def _line(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset) - 1

    def _line_end(self, line: int) -> int:
        """Where line `line`'s text ends, before its break."""
        if line + 1 >= len(self._line_starts):
            return len(self.text)
        following = self._line_starts[line + 1]
        before = 2 if self.text[max(following - 2, 0) : following] == "\r\n" else 1
        return following - before

    def _text_end_before(self, offset: int) -> int:
        """Where the text before `offset` ends, blanks before it left out."""
        while offset > 0 and self.text[offset - 1] in " \t":
            offset -= 1
        return offset

    def _value_start(self, node: Node) -> int:
        """Where a value's text starts, after any anchor or tag."""
        found = _PROPERTIES.match(self.text, node.start)
        return found.end() if found else node.start

    def _content_end(self, node: Node) -> int:
        """Where the text of a value ends: not past the comments and blank lines that a
        block collection's end takes in, nor a block scalar's trailing breaks."""
        if node.is_block:
            children = [v for _, v in node.pairs] if node.kind == "mapping" else node.items
            return self._content_end(children[-1])
        if node.kind == "scalar" and node.style in ("|", ">"):
            end = node.end
            while end > node.start and self.text[end - 1] in " \t\r\n\x85\u2028\u2029":
                end -= 1
            return end
        return node.end

    def _last_line(self, node: Node) -> int:
        return self._line(max(self._content_end(node) - 1, node.start))

    def _inside_braces(self, node: Node) -> tuple[int, int]:
        start = self._value_start(node)
        assert self.text[start] == "{", node.path
        return start + 1, node.end - 1

    # -- writing -----------------------------------------------------------------------------

    def _splice(self, start: int, end: int, text: str) -> None:
        self._splices.append(_Splice(start, end, text))

    def _replace_value(self, path: Path, node: Node, value: Any, quote: str = "") -> None:
        """A scalar, an alias or an empty value replaced by `value` on one line."""
        self._check_removable(path, node)
        if node.kind not in ("scalar", "alias") or node.style in ("|", ">"):
            raise IacError(
                f"{self.file}:{node.line + 1}:{node.column + 1}: {'.'.join(path)} is written "
                f"in a form iac does not edit; write `{path[-1]}: {_flow(value)}` there by hand"
            )
        start = self._value_start(node)
        end = max(start, node.end)
        text = _flow(value, quote)
        if node.style in ("'", '"') and isinstance(value, str) and _flow(value) == value:
            text = f"{node.style}{value}{node.style}"
        if start == end and self.text[start - 1 : start] not in (" ", "\t"):
            text = " " + text  # `autoscaling:` → `autoscaling: {...}`
        self._splice(start, end, text)

    def _insert_in_flow(self, node: Node, key: str, value: Any, after: str | None) -> None:
        quote, inner = node.key_quotes(after)
        entry = f"{_key(key, quote)}: {_flow(value, inner)}"
        if not node.pairs:
            start, end = self._inside_braces(node)
            self._splice(start, end, entry)
            return
        pair = node.own(after) if after is not None else None
        anchor_key, anchor_value = pair or node.pairs[-1]
        end = self._content_end(anchor_value)
        line = self._line(end)
        index = node.pairs.index((anchor_key, anchor_value))
        following = node.pairs[index + 1][0].start if index + 1 < len(node.pairs) else node.end
        on_own_lines = (
            self._line(anchor_key.start) > self._line(node.start) and self._line(following) > line
        )
        if not on_own_lines:  # `{v3: {}, v4: {}}`: on the same line
            self._splice(end, end, ", " + entry)
            return
        # One entry a line (`{\n  v3: {},\n  v4: {}\n}`): a line of its own, after the
        # comma that follows the entry it goes after (added when that one had none).
        line_end = self._line_end(line)
        comment = _comment_start(self.text, end, line_end)
        comma = "," in self.text[end : comment if comment is not None else line_end]
        if not comma:
            self._splice(end, end, ",")
        closing = "," if comma else ""
        indent = " " * anchor_key.column
        self._splice(line_end, line_end, f"{self._newline}{indent}{entry}{closing}")

    def _insert_in_block(self, node: Node, key: str, value: Any, after: str | None) -> None:
        anchor = node.own(after) if after is not None else None
        anchor_key, anchor_value = anchor or node.pairs[-1]
        step = block_step(node, anchor_key, anchor_value)
        quote, inner = node.key_quotes(after)
        if isinstance(value, dict) and value and step is not None:
            lines = [f"{_key(key, quote)}:"] + [
                f"{' ' * step}{_key(k, inner)}: {_flow(v, inner)}" for k, v in value.items()
            ]
        else:
            lines = [f"{_key(key, quote)}: {_flow(value, inner)}"]
        indent = " " * anchor_key.column
        end = self._line_end(self._last_line(anchor_value))
        self._splice(end, end, "".join(self._newline + indent + line for line in lines))

    def _remove_lines(self, first: int, last: int) -> None:
        start = self._line_starts[first]
        if last + 1 < len(self._line_starts):
            end = self._line_starts[last + 1]
        else:  # the file's last line, without a break: the break before it goes instead
            start = self._line_end(first - 1) if first > 0 else 0
            end = len(self.text)
        self._splice(start, end, "")

    def _alignments(self, splices: list[_Splice]) -> list[_Splice]:
        """A comment aligned in a column (two or more spaces before it) stays in its column
        when edits before it on its line change the line's length; one space at least."""
        by_line: dict[int, list[_Splice]] = {}
        across: set[int] = set()  # lines an edit joins, splits or adds: left as they are
        for splice in splices:
            first = self._line(splice.start)
            last = self._line(max(splice.end - 1, splice.start))
            if first == last and not _LINE_BREAK.search(splice.text):
                by_line.setdefault(first, []).append(splice)
            else:
                across.update(range(first, last + 1))
        added = []
        for line, edits in by_line.items():
            if line in across:
                continue
            last_end = max(s.end for s in edits)
            comment = _comment_start(self.text, last_end, self._line_end(line))
            if comment is None:
                continue
            gap_start = self._text_end_before(comment)
            gap = comment - gap_start
            if gap < 2 or gap_start < last_end or "\t" in self.text[gap_start:comment]:
                continue
            delta = sum(len(s.text) - (s.end - s.start) for s in edits)
            added.append(_Splice(gap_start, comment, " " * max(1, gap - delta)))
        return added


def _lookup(data: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _flow(value: Any, quote: str = "") -> str:
    """`value` as YAML on one line: `v3`, `2`, `'1:30'`, `{min_replicas: 2}`, its keys in
    `quote` (where the keys beside it are quoted)."""
    if isinstance(value, dict):
        entries = (f"{_key(k, quote)}: {_flow(v, quote)}" for k, v in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item, quote) for item in value) + "]"
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n...\n").rstrip("\n")


def _key(key: str, quote: str) -> str:
    """A key written as the keys beside it are: in `quote`, or plain."""
    text = _flow(key)
    return f"{quote}{key}{quote}" if quote and text == key else text


def _comment_start(text: str, start: int, end: int) -> int | None:
    """Where a comment starts in text[start:end], the rest of a line after a value."""
    quote = None
    index = start
    while index < end:
        char = text[index]
        if quote is not None:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
        elif char in "'\"" and (index == start or text[index - 1] in " \t{[,:"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return index
        index += 1
    return None
