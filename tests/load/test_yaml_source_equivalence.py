"""`parse_yaml` reads exactly what PyYAML reads, and puts every key where PyYAML's nodes are.

The loader and walker in iac/load/yaml_source.py take shortcuts for speed: tags of plain
scalars resolved once per text, text and decimal scalars read without SafeConstructor, and
scalar values of mappings read without a call each. Here they are held to PyYAML itself:
the data to `yaml.safe_load` (types included) on every YAML file of the project, rendered
manifests, generated stacks and a table of YAML 1.1 scalars; the SourceMap to the marks of
`yaml.compose`'s nodes; and the limits (depth, alias budget) to their exact boundaries.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.generate import changed_stack, large_stack
from iac.diagnostics import Diagnostics, KeyPath
from iac.load import yaml_source
from iac.load.yaml_source import YamlDocument, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
MERGE = "tag:yaml.org,2002:merge"


def _corpus() -> list[tuple[str, str]]:
    files = [
        *sorted(ROOT.glob("examples/**/*.yaml")),
        *sorted(ROOT.glob("stacks/**/*.yaml")),
        *sorted(ROOT.glob("modules/**/*.yaml")),
        *sorted(ROOT.glob("tests/cases/**/*.yaml")),
    ]
    documents = [
        (str(p.relative_to(ROOT)), p.read_bytes().decode("utf-8", "replace")) for p in files
    ]
    # Rendered manifests: every Kubernetes value type, block scalars, quoting styles.
    for path in sorted(ROOT.glob("tests/golden/*.yaml")):
        parts = path.read_text(encoding="utf-8").split("\n---\n")
        documents += [(f"{path.name}#{i}", part) for i, part in enumerate(parts) if part.strip()]
    stack = large_stack(40)
    documents += [("large_stack(40)", stack), ("changed_stack", changed_stack(stack, every=3))]
    return documents + [(f"edge {i}", text) for i, text in enumerate(EDGE_DOCUMENTS)]


# Merges, aliases, duplicates and unusual keys: where a key path can be met twice.
EDGE_DOCUMENTS = [
    "b: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n",
    "b: &b {x: 1, y: [1, 2]}\nthing:\n  y: [3]\n  <<: *b\n",
    "b: &b {x: 1, y: [1, {z: 2}]}\nthing:\n  <<: *b\n  y: [3, {w: 4}, 5]\n",
    "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nt:\n  <<: [*a, *b]\n  z: 3\n",
    "a: &a {x: {<<: {p: 1}, q: 2}}\nt: {<<: *a}\nu: *a\n",
    "t: {<<: &b {x: 1}}\nu: {<<: *b, x: 2}\nv: *b\n",
    "a: &x 1\nb: [*x, {k: *x}, [*x]]\nc: &l [a, &s b]\nd: [*l, *s, {e: *l}]\n",
    "a: 1\nb: 2\na: 3\nb: {c: 4}\n",
    "1: a\nTrue: b\n1.0: c\n~: d\nnull: e\n2001-12-14: f\n'2001-12-14': g\n",
    "yes: 1\n'yes': 2\n0x1F: 3\n31: 4\n1.5: 5\n!!str 1.5: 6\n",
    "a: &k x\n*k : 1\nl: [x, x]\n",
    "n: !!map {a: 1}\no: !!seq [1]\n",
    "? a\n: 1\n? b\n? c\n: 3\n",
    "- a: 1\n  b: [x, {c: y}]\n- [1, [2, [3, {d: 4}]]]\n- !!binary aGVsbG8=\n",
    "a: |\n  block\n  text\nb: >\n  folded\n  text\nc: 'single'\nd: \"double\"\n",
]


CORPUS = _corpus()


def parse(text: str) -> tuple[YamlDocument | None, Diagnostics]:
    diagnostics = Diagnostics()
    return parse_yaml(text.encode(), "f.yaml", diagnostics), diagnostics


def _key(node: yaml.Node) -> Any:
    """A key as the loader keeps it: text, a number, a bool or None; anything else as text."""
    key = yaml.constructor.SafeConstructor().construct_object(node)
    return key if isinstance(key, str | int | float | bool) or key is None else str(key)


class _Reference:
    """Key path → positions, straight from the marks of PyYAML's nodes: the first position
    written for a path stays, a duplicate key is skipped, `<<` sources come where written."""

    def __init__(self, root: yaml.Node) -> None:
        self.positions: dict[KeyPath, tuple[int, int, int, int]] = {}
        self.duplicates = 0
        self.merges = 0
        self._walk(root, ())

    def _add(self, path: KeyPath, key: yaml.Node, value: yaml.Node) -> None:
        k, v = key.start_mark, value.start_mark
        self.positions.setdefault(path, (k.line, k.column, v.line, v.column))

    def _walk(self, node: yaml.Node, path: KeyPath) -> None:
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._add((*path, index), item, item)
                self._walk(item, (*path, index))
        elif isinstance(node, yaml.MappingNode):
            self._entries(node, path)

    def _entries(self, node: yaml.MappingNode, path: KeyPath) -> None:
        keys: dict[Any, None] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                self.merges += 1
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    self._entries(source, path)
                continue
            key = _key(key_node)
            if key in keys:
                self.duplicates += 1
                continue
            keys[key] = None
            self._add((*path, key), key_node, value_node)
            self._walk(value_node, (*path, key))


def _unordered(value: Any) -> Any:
    """`value` with every mapping's items sorted: `<<` merges order keys differently from
    SafeConstructor (explicit keys first), which is the only difference allowed."""
    if isinstance(value, dict):
        items = [(repr(k), type(k).__name__, _unordered(v)) for k, v in value.items()]
        return ("dict", sorted(items, key=repr))
    if isinstance(value, list):
        return [_unordered(item) for item in value]
    return (type(value).__name__, repr(value))


_LIMITS = ("nesting deeper than", "aliases expand to more than")


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[name for name, _ in CORPUS])
def test_files_read_as_safe_load_reads_them(name: str, text: str) -> None:
    document, diagnostics = parse(text)
    if document is None and diagnostics.items[0].message.startswith(_LIMITS):
        return  # the limits have their own tests below (and a bomb is no file to expand)
    try:
        expected = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        assert document is None
        assert diagnostics.items
        return
    if root is None:  # empty: the loader says so
        assert document is None
        return
    assert document is not None, [str(d) for d in diagnostics]
    reference = _Reference(root)
    assert document.source.positions == reference.positions
    assert len(diagnostics.items) == reference.duplicates
    if reference.duplicates:  # the loader keeps the first value, safe_load the last
        return
    if reference.merges:
        assert _unordered(document.data) == _unordered(expected)
    else:
        assert repr(document.data) == repr(expected)  # repr shows types, and key order


# Where the loader knowingly reads otherwise than safe_load (and always did): two `<<` keys
# in a mapping (the later wins), a tag on a list or mapping (ignored), duplicate keys (the
# first wins, and each later one is an error).
DIFFERENT = [
    (
        "a: &a {x: 1, z: 1}\nt:\n  <<: *a\n  <<: {x: 2, w: 2}\n  v: 3\n",
        {"a": {"x": 1, "z": 1}, "t": {"v": 3, "x": 2, "z": 1, "w": 2}},
    ),
    (
        "k: !!str [1, 2]\nm: !!str {a: 1}\ns: !!set {a, b}\n",
        {"k": [1, 2], "m": {"a": 1}, "s": {"a": None, "b": None}},
    ),
    ("o: !!omap [a: 1, b: 2]\n", {"o": [{"a": 1}, {"b": 2}]}),
    ("a: 1\nb: 2\na: 3\n1: x\nTrue: y\n", {"a": 1, "b": 2, 1: "x"}),
]


@pytest.mark.parametrize(("text", "data"), DIFFERENT)
def test_where_the_loader_reads_otherwise_than_safe_load(text: str, data: Any) -> None:
    document, _ = parse(text)
    assert document is not None
    assert repr(document.data) == repr(data)
    assert document.source.positions == _Reference(yaml.compose(text)).positions


def test_corpus_covers_what_it_should() -> None:
    names = [name for name, _ in CORPUS]
    assert any(name.startswith("examples/") for name in names)
    assert sum(name.startswith("tests/cases/") for name in names) >= 30
    assert sum("#" in name for name in names) >= 100  # rendered manifests


# YAML 1.1 as PyYAML reads it: what each resolves to is PyYAML's business, not ours; that
# the loader's shortcuts agree with it is.
# fmt: off
TRICKY_SCALARS = [
    # integers: decimal, octal (leading 0), hex, binary, `_`, signs, base 60
    "0", "7", "42", "1234567890123456789012345678901234567890", "010", "017", "0o17",
    "00", "0_0", "0_17", "09", "0x1F", "0x1f", "-0x1F", "0b101", "-0b101", "1_000", "+5",
    "-5", "-0", "+0", "+017", "1:30", "-1:30", "190:20:30", "1__0", "_1",
    # floats
    "1.5", "-1.5", "1.", ".5", "+.5", "1e3", "1.0e3", "1.0e+3", "6.8523015e+5",
    "685.230_15e+03", "685_230.15", "190:20:30.15", ".inf", ".Inf", ".INF", "-.inf",
    "+.inf", ".nan", ".NaN", ".NAN", "1_0.5", "0.0", "-0.0",
    # booleans, and words that look like them but are text
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
    "FALSE", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "yEs", "tRUE",
    # null
    "~", "null", "Null", "NULL", "", "nULL",
    # timestamps
    "2001-12-14", "2002-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z", "2001-12-15 2:59:43.10",
    # quoted: always text
    "'1'", '"1"', "'yes'", "'~'", "''", "'0x1F'", '"1.5"', "'2001-12-14'",
    # explicit tags
    "!!str 1", "!!str yes", "!!int 12", '!!int "12"', "!!int 0x1F", "!!int 017",
    "!!int 1_000", "!!int -12", "!!int 0", "!!int \u0663", "!!float 1", "!!float .5",
    "!!float 1e3", "!!bool yes", "!!bool True", "!!null ~", "!!null ''", "!!binary aGVsbG8=",
    "!!timestamp 2001-12-14", "! 12", "! '12'", "! yes", "!local x", "!!python/name:os.system",
    # text
    "hello", "a b", "H100:1", "64Gi", "v0.1.0", "1.2.3", "0.1.0", "10.0.0.1", "1:2:3:4",
    "\u00e9t\u00e9", "\U0001f4a5", "=", "<<", "- x", "'a''b'", '"tab\\there"',
    "12abc", "0x", "0b", "1e", "--1", "+-1", ".", "-", "+",
]
# fmt: on


def _safe_load(text: str) -> Any:
    """What safe_load makes of `text`, or the type of what it raised."""
    try:
        return yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - the same failure is the expected result
        return type(exc)


def _load(text: str) -> Any:
    """What parse_yaml makes of `text`, or the type of what it raised: `YAMLError` where
    it reported the problem, as safe_load raises one."""
    try:
        document, diagnostics = parse(text)
    except Exception as exc:  # noqa: BLE001 - the same failure is the expected result
        return type(exc)
    if document is None:
        assert diagnostics.items
        return yaml.YAMLError
    assert not diagnostics.items
    return document.data


def _as_loaded(expected: Any) -> Any:
    if isinstance(expected, type) and issubclass(expected, yaml.YAMLError):
        return yaml.YAMLError
    return expected


@pytest.mark.parametrize("scalar", TRICKY_SCALARS)
def test_scalars_read_as_safe_load_reads_them(scalar: str) -> None:
    texts = [f"v: {scalar}\n", f"- {scalar}\n", f"a: {{b: {scalar}}}\n"]
    if scalar:  # (an empty file is an error of its own)
        texts.append(f"{scalar}\n")
    for text in texts:
        expected = _as_loaded(_safe_load(text))
        assert repr(_load(text)) == repr(expected), text


@pytest.mark.parametrize("scalar", TRICKY_SCALARS)
def test_scalar_keys_read_as_safe_load_reads_them(scalar: str) -> None:
    text = f"{scalar}: v\nk: {scalar}\n"
    expected = _as_loaded(_safe_load(text))
    if isinstance(expected, dict):  # the loader keeps keys as text, numbers, bools or None
        expected = {
            k if isinstance(k, str | int | float | bool) or k is None else str(k): v
            for k, v in expected.items()
        }
    assert repr(_load(text)) == repr(expected)


def test_tricky_scalars_reach_every_constructor() -> None:
    loaded = [_safe_load(f"v: {s}\n") for s in TRICKY_SCALARS]
    kinds = {type(data["v"]) for data in loaded if isinstance(data, dict)}
    assert {str, int, float, bool, type(None), bytes, datetime.date, datetime.datetime} <= kinds


def test_values_repeated_and_aliased_keep_their_types() -> None:
    """Each distinct plain text is resolved once per file; the same text quoted, tagged or
    aliased elsewhere must still read as safe_load reads it."""
    text = "".join(
        f"k{i}: [{s}, '{s}', !!str {s}, &a{i} {s}, *a{i}, {{x: {s}, y: *a{i}}}]\n"
        for i, s in enumerate(["1", "yes", "~", "1.5", "0x1F", "017", "2001-12-14", "x"])
    )
    assert repr(_load(text)) == repr(yaml.safe_load(text))


# --- limits, at their exact boundaries -------------------------------------------------------


def _nested(depth: int, leaf: str, style: str) -> str:
    """A document `depth` levels deep (the top-level collection is level 0) ending in `leaf`."""
    if style == "map":
        return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth + f"k: {leaf}\n"
    if style == "seq":
        return "[" * depth + f"[{leaf}]" + "]" * depth + "\n"
    return (
        "{a: [" * (depth // 2)
        + (f"{{k: {leaf}}}" if depth % 2 == 0 else f"[{leaf}]")
        + ("]}" * (depth // 2))
        + "\n"
    )


@pytest.mark.parametrize("style", ["map", "seq", "flow"])
@pytest.mark.parametrize("leaf", ["1", "x", "{}", "[]", "2001-12-14"])
def test_depth_limit_holds_at_its_boundary(style: str, leaf: str) -> None:
    deepest = yaml_source.MAX_DEPTH - 1  # the leaf's own level is one more
    document, diagnostics = parse(_nested(deepest, leaf, style))
    assert document is not None, [str(d) for d in diagnostics]
    document, diagnostics = parse(_nested(deepest + 1, leaf, style))
    assert document is None
    (problem,) = diagnostics.items
    assert problem.message == "nesting deeper than 64 levels"


def test_depth_limit_reports_the_first_node_too_deep() -> None:
    text = _nested(64, "x", "map")
    _, diagnostics = parse(text)
    assert [str(d) for d in diagnostics] == ["f.yaml:65:132: error: nesting deeper than 64 levels"]


@pytest.mark.parametrize(
    ("depth", "base", "problem"),
    [
        (62, "{x: 1}", None),
        (63, "{x: 1}", "f.yaml:1:14: error: nesting deeper than 64 levels"),
        (62, "{x: {y: 1}}", "f.yaml:1:18: error: nesting deeper than 64 levels"),
    ],
)
def test_depth_limit_counts_merge_sources_one_level_deeper(
    depth: int, base: str, problem: str | None
) -> None:
    """A mapping `depth` deep merges `base`: its values are `depth + 2` deep."""
    keys = "".join(f"{'  ' * i}k{i}:\n" for i in range(depth))
    document, diagnostics = parse(f"base: &b {base}\n{keys}{'  ' * depth}<<: *b\n")
    assert [str(d) for d in diagnostics] == ([problem] if problem else [])
    assert (document is None) == bool(problem)


# Documents with aliases, and how many values their aliases produce. The budget counts every
# node reached through an alias (a scalar too), and a node met for the second time is reached
# through one; keys and the `<<` sources themselves are not counted.
ALIAS_COUNTS = [
    ("a: &x 1\nb: *x\n", 1),
    ("a: &x 1\nb: [*x, *x, *x]\n", 3),
    ("a: &x 1\nb: {p: *x, q: *x}\n", 2),
    ("a: &m {p: 1, q: [2, 3]}\nb: *m\n", 5),
    ("a: &m {p: 1, q: &s [2, 3]}\nb: *m\nc: *s\n", 8),
    ("a: &m {p: &s x}\nb: *m\nc: *s\n", 3),
    ("a: &k x\n*k : 1\n", 0),
    ("a: 1\na: &x [1, 2]\nb: *x\n", 0),  # first met through the alias: not counted
    ("b: &b {x: 1, y: {z: 2}}\nt: {<<: *b, y: 3}\n", 3),
    ("a: &a {x: 1}\nb: &b {y: 2}\nt: {<<: [*a, *b], z: 3}\n", 2),
    ("b: &b {x: &v 1}\nt: {<<: *b}\nu: *v\n", 2),
    ("l: &l [a, b]\nm: {x: *l, y: *l}\n", 6),
]


@pytest.mark.parametrize(("text", "count"), ALIAS_COUNTS)
def test_alias_budget_counts_exactly(
    text: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_source, "MAX_ALIAS_VALUES", count)
    document, diagnostics = parse(text)
    assert document is not None, [str(d) for d in diagnostics]
    if count:
        monkeypatch.setattr(yaml_source, "MAX_ALIAS_VALUES", count - 1)
        document, diagnostics = parse(text)
        assert document is None
        (problem,) = diagnostics.items
        assert problem.message.startswith(f"aliases expand to more than {count - 1} values")


def _aliases(count: int, form: str) -> str:
    """`count` aliases of one scalar, as items of a list. (As values of a mapping, they
    are counted above; 100,001 keys would take seconds.)"""
    if form == "block list":
        return "a: &x 1\nb:\n" + "  - *x\n" * count
    return "a: &x 1\nb: [" + "*x, " * count + "]\n"


@pytest.mark.parametrize("form", ["block list", "flow list"])
def test_alias_budget_of_100000_scalars(form: str) -> None:
    document, diagnostics = parse(_aliases(yaml_source.MAX_ALIAS_VALUES, form))
    assert document is not None
    assert not diagnostics.items
    document, diagnostics = parse(_aliases(yaml_source.MAX_ALIAS_VALUES + 1, form))
    assert document is None
    assert [str(d) for d in diagnostics] == [
        "f.yaml:1:4: error: aliases expand to more than 100000 values (a 'billion laughs' "
        "document?); write the values out, or share them with templates"
    ]
