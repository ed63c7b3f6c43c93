"""Safe YAML reading that remembers where every key and value came from.

PyYAML's composer (the C one when available) builds a node graph in which an alias is a
second reference to the anchored node, so composing a "billion laughs" document is cheap;
the danger is in expanding it. We expand nodes ourselves, with budgets for the file size,
the nesting depth and the number of values produced through aliases, and record for each
key path the position of its key and of its value. Duplicate keys are errors, not a silent
"last one wins".
"""

from __future__ import annotations

import operator
import os
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from iac.diagnostics import Diagnostics, KeyPath, Location

try:  # The C composer is much faster; fall back to pure Python where libyaml is missing.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader, answering cheaply the calls the C composer makes for every node.

    Even the C composer calls back into Python for each node: `resolve` for its tag (for a
    plain scalar, a list of regular expressions per first character), and `descend_resolver`
    and `ascend_resolver` around it, which follow the path for path resolvers. This loader
    has none, so those two do nothing, a collection gets its kind's default tag, a quoted
    scalar is text, and the tag of a plain scalar depends on its text alone: a 1,000-model
    stack has 60,000 scalars but a few thousand distinct ones, each resolved once.
    """

    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}
    """None, even if some other code adds path resolvers to PyYAML's safe loaders: what a
    stack file means must not depend on that."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            if implicit[0]:  # plain (or tagged `!`): resolved from its text
                tag = self._plain_tags.get(value)
                if tag is None:
                    tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
                return tag
            return self.DEFAULT_SCALAR_TAG
        if kind is yaml.MappingNode:
            return self.DEFAULT_MAPPING_TAG
        return self.DEFAULT_SEQUENCE_TAG

    # Called around every node to follow the path, for path resolvers: without any, nothing
    # to do. Builtins of the same arity, whose results the composer drops, cost less than
    # Python methods doing nothing (5 % of parsing a large stack).
    descend_resolver = operator.is_  # (parent, index)
    ascend_resolver = tuple  # ()


MAX_FILE_BYTES = 16 * 1024 * 1024
"""A stack of 1,000 models is ~200 KiB; anything past 16 MiB is a mistake or an attack."""
MAX_ALIAS_VALUES = 100_000
"""Values produced by expanding aliases. Real files reuse a few anchors a few hundred times."""
MAX_DEPTH = 64
"""Nesting depth; stack files are about 6 deep."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


Positions = tuple[int, int, int, int]
"""0-based line and column of a key, then of its value (Locations are made on demand)."""


@dataclass
class SourceMap:
    """Key path → position of that key and its value, for one loaded file."""

    file: str
    positions: dict[KeyPath, Positions] = field(default_factory=dict)

    def key(self, path: KeyPath) -> Location:
        """The position of the key at `path`, or of its nearest written ancestor."""
        line, column, _, _ = self._nearest(path)
        return Location(self.file, line + 1, column + 1)

    def value(self, path: KeyPath) -> Location:
        """The position of the value at `path`, or of its nearest written ancestor."""
        _, _, line, column = self._nearest(path)
        return Location(self.file, line + 1, column + 1)

    def has(self, path: KeyPath) -> bool:
        return path in self.positions

    def _nearest(self, path: KeyPath) -> Positions:
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (0, 0, 0, 0))


@dataclass
class YamlDocument:
    """A parsed YAML file: plain Python data plus a SourceMap of it."""

    data: Any
    source: SourceMap
    merged_at: tuple[KeyPath, ...] = ()
    """Key paths of the mappings with a `<<` merge key. Only there may the SourceMap hold
    paths the data lacks (the keys of a merged mapping that the mapping overrides)."""


class _Problem(Exception):
    """Raised inside the walker for a problem that stops reading; becomes a diagnostic."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def read_yaml(path: str, diagnostics: Diagnostics) -> YamlDocument | None:
    """Read one YAML file. Returns None (with diagnostics added) when it cannot be used."""
    display = os.path.normpath(path)
    start = Location(display)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            diagnostics.error(
                start,
                f"file is {size} bytes, over the {MAX_FILE_BYTES} byte limit for a stack file; "
                "split it with `imports:`",
            )
            return None
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        diagnostics.error(start, "no such file")
        return None
    except IsADirectoryError:
        diagnostics.error(start, "is a directory; name a YAML file (or a folder with stack.yaml)")
        return None
    except OSError as exc:
        diagnostics.error(start, f"cannot read file: {exc.strerror}")
        return None
    return parse_yaml(raw, display, diagnostics)


def parse_yaml(raw: bytes, display: str, diagnostics: Diagnostics) -> YamlDocument | None:
    """Parse YAML bytes named `display` in diagnostics."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        diagnostics.error(
            _offset_location(raw, exc.start, display),
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
        )
        return None
    source = SourceMap(display)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark_location(mark, display) if mark else Location(display)
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc):
            problem = "expected one YAML document, found more than one (remove the `---`)"
        tab = _tab_problem(text, mark) if mark else None
        diagnostics.error(where, tab or f"invalid YAML: {problem}")
        return None
    except yaml.YAMLError as exc:
        diagnostics.error(Location(display), f"invalid YAML: {exc}")
        return None
    except RecursionError:
        diagnostics.error(Location(display), f"nesting deeper than {MAX_DEPTH} levels")
        return None
    if node is None:
        diagnostics.error(Location(display), "file is empty; a stack file starts with `version: 1`")
        return None
    walker = _Walker(source)
    try:
        data = walker.value(node, (), depth=0)
    except _Problem as exc:
        diagnostics.error(_mark_location(exc.node.start_mark, display), str(exc))
        return None
    # Duplicate keys are errors, but the first value is kept so the rest is still checked.
    diagnostics.extend(walker.duplicates.items)
    return YamlDocument(data, source, tuple(walker.merged_at))


class _Walker:
    """Turns a node graph into Python values, filling the SourceMap on the way.

    Most nodes of a stack file are text keys with scalar values, so `_mapping` handles
    those itself, without a call per key and value; everything else goes through `value`.
    """

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.file = source.file
        self.positions = source.positions
        self.alias_values = 0
        self.seen: set[int] = set()
        """`id` of every node met so far: one met again is reached through an alias."""
        self.duplicates = Diagnostics()
        self.merged_at: list[KeyPath] = []
        # One constructor per file: it memoizes every node it builds.
        self.constructor = yaml.constructor.SafeConstructor()

    def scalar(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR_TAG:  # most values; what SafeConstructor would return anyway
            return node.value
        try:
            if tag == _INT_TAG and _is_decimal(node.value):  # next most: replicas, ports
                return int(node.value)
            return self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise _Problem(node, f"cannot read value: {exc.problem}") from None
        except (ValueError, TypeError, KeyError, AttributeError):
            # PyYAML's constructors raise these for text a tag cannot read: `!!int foo`,
            # `!!bool maybe`, `!!timestamp x`, an integer of over 4,300 digits.
            text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            kind = str(tag).rsplit(":", 1)[-1]
            raise _Problem(
                node,
                f"cannot read {text!r} as {kind}; fix the value, or quote it to keep it as text",
            ) from None

    def value(self, node: yaml.Node, path: KeyPath, depth: int, via_alias: bool = False) -> Any:
        if depth > MAX_DEPTH:
            raise _Problem(node, f"nesting deeper than {MAX_DEPTH} levels")
        # A node met a second time is an alias: count everything it expands to.
        if id(node) in self.seen:
            via_alias = True
        else:
            self.seen.add(id(node))
        if via_alias:
            self._count_alias(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth, via_alias)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = path + (index,)
                self._record(child, item, item)
                items.append(self.value(item, child, depth + 1, via_alias))
            return items
        return self.scalar(node)

    def _count_alias(self, node: yaml.Node) -> None:
        """One more value produced through an alias; `node` is where the budget ran out."""
        self.alias_values += 1
        if self.alias_values > MAX_ALIAS_VALUES:
            raise _Problem(
                node,
                f"aliases expand to more than {MAX_ALIAS_VALUES} values (a 'billion laughs' "
                "document?); write the values out, or share them with templates",
            )

    def _mapping(
        self, node: yaml.MappingNode, path: KeyPath, depth: int, via_alias: bool
    ) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] | None = None
        positions = self.positions
        seen = self.seen
        # Scalar values are read here, as `value` would read them, unless a value this deep
        # is already an error, which `value` reports.
        scalars_here = depth < MAX_DEPTH
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == _STR_TAG and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value  # text: nearly every key
            elif key_tag == _MERGE_TAG:
                self.merged_at.append(path)
                if merged is None:
                    merged = {}
                merged.update(self._merge_sources(value_node, path, depth, via_alias))
                continue
            else:
                key = self._key(key_node)
            child = path + (key,)
            if key in result:
                self._duplicate(key_node, key, child)
                continue
            if child not in positions:  # `_record`; a path met again (`<<`) keeps the first
                key_mark, value_mark = key_node.start_mark, value_node.start_mark
                positions[child] = (
                    key_mark.line,
                    key_mark.column,
                    value_mark.line,
                    value_mark.column,
                )
            if scalars_here and isinstance(value_node, yaml.ScalarNode):
                # What `value` does for a scalar: a node met before (it leaves `seen` as
                # large as it was) is reached through an alias, and so is all of an alias.
                size = len(seen)
                seen.add(id(value_node))
                if via_alias or len(seen) == size:
                    self._count_alias(value_node)
                if value_node.tag == _STR_TAG:
                    result[key] = value_node.value
                else:
                    result[key] = self.scalar(value_node)
            else:
                result[key] = self.value(value_node, child, depth + 1, via_alias)
        if merged:
            for key, value in merged.items():
                result.setdefault(key, value)
        return result

    def _key(self, node: yaml.Node) -> Any:
        """The key a node other than plain text stands for (a number, a date...)."""
        if not isinstance(node, yaml.ScalarNode):
            raise _Problem(node, "a key must be a plain scalar, not a list or mapping")
        key = self.scalar(node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            key = str(key)
        return key

    def _duplicate(self, key_node: yaml.Node, key: Any, path: KeyPath) -> None:
        where = f" (first at line {self.source.key(path).line})"
        self.duplicates.error(
            _mark_location(key_node.start_mark, self.file),
            f"duplicate key '{key}'{where}; keep one of them",
            path,
        )

    def _merge_sources(
        self, node: yaml.Node, path: KeyPath, depth: int, via_alias: bool
    ) -> dict[Any, Any]:
        """`<<: *base` or `<<: [*a, *b]`: earlier sources win, as YAML's merge key says."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise _Problem(source, "`<<` merges mappings only")
            for key, value in self._mapping(source, path, depth + 1, via_alias).items():
                merged.setdefault(key, value)
        return merged

    def _record(self, path: KeyPath, key_node: yaml.Node, value_node: yaml.Node) -> None:
        if path not in self.positions:
            key_mark, value_mark = key_node.start_mark, value_node.start_mark
            self.positions[path] = (
                key_mark.line,
                key_mark.column,
                value_mark.line,
                value_mark.column,
            )


def _is_decimal(text: str) -> bool:
    """Digits only, and no leading zero (octal in YAML 1.1): SafeConstructor reads these
    with `int()` as well. Its other forms (`0x1F`, `017`, `1_000`, `+5`, `1:30`) go to it."""
    return text.isdigit() and (text[0] != "0" or text == "0")


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
"""What YAML (1.1, as PyYAML reads it) counts as the end of a line."""


def _tab_problem(text: str, mark: Any) -> str | None:
    """What to say when the parser stopped at a tab (it says "found character that cannot
    start any token", or something about indentation): None when it stopped elsewhere."""
    lines = _LINE_BREAK.split(text)
    line = lines[mark.line] if mark.line < len(lines) else ""
    if line[mark.column : mark.column + 1] != "\t":
        return None
    at = f"{mark.line + 1}:{mark.column + 1}"
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if mark.column >= len(indentation):
        return f"a tab where YAML expects spaces; replace the tab at {at} with spaces"
    tabs = [i + 1 for i, c in enumerate(indentation) if c == "\t"]
    what = (
        f"the tab at {at}"
        if len(tabs) == 1
        else f"the {len(tabs)} tabs at {mark.line + 1}:{tabs[0]}-{tabs[-1]}"
    )
    return f"a tab in indentation: YAML indents with spaces; replace {what} with spaces"


def _mark_location(mark: Any, file: str) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _offset_location(raw: bytes, offset: int, file: str) -> Location:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return Location(file, line, column)
