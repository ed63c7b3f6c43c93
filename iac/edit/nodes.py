"""A YAML document's node tree as written: where each node is, its style, and its anchors and
aliases, which `Editor` needs and a loaded document has lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the same events and positions; the C parser is much faster on a large stack
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(eq=False)
class Node:
    """One node as written: an alias is a node of its own, pointing at its anchor's."""

    kind: str
    """scalar, mapping, sequence or alias."""
    start: int
    end: int
    """Offsets in the text; a block collection's end is where the next token starts."""
    line: int
    column: int
    anchor: str | None = None
    tag: str = ""
    value: str = ""
    """A scalar's value."""
    style: str | None = None
    """A scalar's quote (`'`, `"`) or block style (`|`, `>`)."""
    flow: bool = False
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)
    target: Node | None = None
    """What an alias stands for."""
    path: str = ""
    """Where the node is written (for an alias, where the alias is)."""
    key: Node | None = None
    """The key it is the value of, in a mapping."""
    aliases: list[Node] = field(default_factory=list)
    """The aliases of an anchored node: if any, it appears in more than one place."""

    def resolved(self) -> Node:
        return self.target if self.target is not None else self

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.tag == _NULL_TAG

    def key_quotes(self, beside: str | None = None) -> tuple[str, str]:
        """How to quote a key added to this mapping beside the key `beside` (default: the
        last), and the keys of a mapping added as its value: as the key beside it is (the
        mapping's own key when it has none yet), and as the keys in that key's value are."""
        pairs = [pair for pair in self.pairs if pair[0].tag != MERGE_TAG]
        found = self.own(beside) if beside is not None else None
        key, value = found or (pairs[-1] if pairs else (self.key, None))
        quote = quote_of(key)
        inner = [k for k, _ in value.pairs if k.tag != MERGE_TAG] if value is not None else []
        return quote, quote_of(inner[0]) if inner else quote

    @property
    def is_block(self) -> bool:
        return self.kind in ("mapping", "sequence") and not self.flow

    def own(self, key: str) -> tuple[Node, Node] | None:
        """The pair of `key` written in this mapping itself (not merged in)."""
        for key_node, value in self.pairs:
            if key_node.kind == "scalar" and key_node.tag != MERGE_TAG and key_node.value == key:
                return key_node, value
        return None

    def merge_sources(self) -> list[Node]:
        """The nodes a `<<` merges in (aliases, or mappings written in place)."""
        sources: list[Node] = []
        for key, value in self.pairs:
            if key.tag == MERGE_TAG:
                inner = value.resolved()
                sources += inner.items if inner.kind == "sequence" else [value]
        return sources


def compose(text: str, line_starts: list[int]) -> Node:
    """The document's node tree from the parser's events, aliases kept as nodes.
    `line_starts`: the offset where each line starts, as the parser counts lines."""
    composer = _Composer(text, line_starts)
    event: Any  # PyYAML's events are untyped
    for event in yaml.parse(text, Loader=_Loader):
        composer.add(event)
    assert composer.root is not None
    return composer.root


class _Composer:
    """Builds the tree one parser event at a time: a collection stays open (with the key
    waiting for its value, in a mapping) until its end event."""

    def __init__(self, text: str, line_starts: list[int]) -> None:
        self.text = text
        self.line_starts = line_starts
        self.resolver = yaml.resolver.Resolver()
        self.anchors: dict[str, Node] = {}
        self.open_nodes: list[Node] = []
        self.pending_keys: list[Node | None] = []
        self.root: Node | None = None

    def add(self, event: Any) -> None:
        if isinstance(event, yaml.AliasEvent):
            alias = self._node_at("alias", event)
            alias.target = self.anchors[str(event.anchor)]
            alias.target.aliases.append(alias)
            self._attach(alias)
            return
        if isinstance(event, yaml.ScalarEvent):
            node = self._scalar(event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            node = self._open_collection(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self.open_nodes.pop().end = self._offset(event.end_mark)
            self.pending_keys.pop()
            return
        else:
            return
        if event.anchor:
            node.anchor = event.anchor
            self.anchors[event.anchor] = node

    def _scalar(self, event: Any) -> Node:
        node = self._node_at("scalar", event)
        node.tag = event.tag if event.tag not in (None, "!") else ""
        if not node.tag:
            node.tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        node.value, node.style = event.value, event.style
        self._attach(node)
        return node

    def _open_collection(self, event: Any) -> Node:
        kind = "mapping" if isinstance(event, yaml.MappingStartEvent) else "sequence"
        node = self._node_at(kind, event)
        node.flow = bool(event.flow_style)
        self._attach(node)
        self.open_nodes.append(node)
        self.pending_keys.append(None)
        return node

    def _offset(self, mark: Any) -> int:
        if mark.line >= len(self.line_starts):  # the end of a file without a final break
            return len(self.text)
        return int(self.line_starts[mark.line] + mark.column)

    def _node_at(self, kind: str, event: Any) -> Node:
        mark, end = event.start_mark, event.end_mark
        return Node(kind, self._offset(mark), self._offset(end), mark.line, mark.column)

    def _attach(self, node: Node) -> None:
        """Make `node` the root, an item of the open sequence, or in the open mapping the
        key waiting for a value or that key's value."""
        if not self.open_nodes:
            self.root = node
            return
        parent = self.open_nodes[-1]
        if parent.kind == "sequence":
            parent.items.append(node)
        elif self.pending_keys[-1] is None:
            self.pending_keys[-1] = node
        else:
            key = self.pending_keys[-1]
            assert key is not None
            parent.pairs.append((key, node))
            node.key = key
            self.pending_keys[-1] = None


def name_paths(node: Node, path: str) -> None:
    """Set each node's `path`: where it is written (an alias: where the alias is)."""
    node.path = path
    if node.kind == "mapping":
        for key, value in node.pairs:
            name = "<<" if key.tag == MERGE_TAG else key.value
            name_paths(value, f"{path}.{name}" if path else name)
    elif node.kind == "sequence":
        for index, item in enumerate(node.items):
            name_paths(item, f"{path}[{index}]")


def written_within(node: Node) -> list[Node]:
    """The node and every node written inside it (not what its aliases stand for)."""
    found = [node]
    for key, value in node.pairs:
        found += written_within(key) + written_within(value)
    for item in node.items:
        found += written_within(item)
    return found


def merge_route(node: Node, key: str) -> list[Node]:
    """The `<<` sources passed to find `key` in a mapping that does not write it itself
    (YAML's merge: the mapping's own keys first, then each source in order)."""
    if node.own(key) is not None:
        return []
    for source in node.merge_sources():
        mapping = source.resolved()
        if mapping.kind != "mapping":
            continue
        route = merge_route(mapping, key)
        if route or mapping.own(key) is not None:
            return [source, *route]
    return []


def quote_of(key: Node | None) -> str:
    return key.style if key is not None and key.style in ("'", '"') else ""


def merges_in(node: Node, key: str) -> bool:
    """Whether a `<<` of the mapping brings in `key`."""
    for source in node.merge_sources():
        mapping = source.resolved()
        if mapping.kind == "mapping" and (mapping.own(key) or merges_in(mapping, key)):
            return True
    return False


def block_step(node: Node, beside_key: Node, beside: Node) -> int | None:
    """How far in a mapping added to a block mapping is indented, written as a block as the
    mapping beside it is (or else the first mapping among its siblings); None (written
    `{...}`) when that one is a flow mapping, or there is none. Aliases do not count: what
    they stand for is written elsewhere."""
    candidates = [(beside_key, beside)] if beside.kind == "mapping" else []
    candidates += node.pairs
    for key, value in candidates:
        if value.kind == "mapping":
            return None if value.flow else value.pairs[0][0].column - key.column
    return None
