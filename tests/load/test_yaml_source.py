from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from iac.diagnostics import Diagnostics, Location
from iac.load import yaml_source
from iac.load.yaml_source import parse_yaml


def parse(text: str | bytes) -> tuple[object, Diagnostics, yaml_source.SourceMap | None]:
    diagnostics = Diagnostics()
    raw = text.encode() if isinstance(text, str) else text
    document = parse_yaml(raw, "f.yaml", diagnostics)
    if document is None:
        return None, diagnostics, None
    return document.data, diagnostics, document.source


def test_positions_of_keys_and_values_are_one_based() -> None:
    data, diagnostics, source = parse("a:\n  b: 1\n  c: [x, {d: 2}]\n")
    assert data == {"a": {"b": 1, "c": ["x", {"d": 2}]}}
    assert not diagnostics.items
    assert source is not None
    assert source.key(("a", "b")) == Location("f.yaml", 2, 3)
    assert source.value(("a", "b")) == Location("f.yaml", 2, 6)
    assert source.value(("a", "c", 1, "d")) == Location("f.yaml", 3, 14)
    # An unknown path falls back to its nearest written ancestor.
    assert source.key(("a", "b", "zzz")) == Location("f.yaml", 2, 3)


def test_duplicate_key_is_an_error_and_the_first_value_is_kept() -> None:
    data, diagnostics, _ = parse("a: 1\nb: 2\na: 3\n")
    assert data == {"a": 1, "b": 2}
    assert [str(d) for d in diagnostics] == [
        "f.yaml:3:1: error: a: duplicate key 'a' (first at line 1); keep one of them"
    ]


def test_merge_keys_are_supported_and_explicit_keys_win() -> None:
    data, diagnostics, _ = parse("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
    assert not diagnostics.items
    assert data == {"base": {"x": 1, "y": 2}, "thing": {"x": 1, "y": 3}}


def test_aliases_within_budget_expand() -> None:
    data, diagnostics, _ = parse("a: &a [1, 2]\nb: *a\n")
    assert not diagnostics.items
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_billion_laughs_fails_fast_without_expanding() -> None:
    levels = ["a0: &a0 [" + ",".join(["lol"] * 10) + "]"]
    for i in range(1, 12):
        levels.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    data, diagnostics, _ = parse("\n".join(levels) + "\n")
    assert data is None
    (problem,) = diagnostics.items
    assert "aliases expand to more than 100000 values" in problem.message


def test_file_too_large_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(yaml_source.MAX_FILE_BYTES + 1)
    diagnostics = Diagnostics()
    assert yaml_source.read_yaml(str(path), diagnostics) is None
    assert "over the 16777216 byte limit" in diagnostics.items[0].message


def test_non_utf8_reports_the_position_of_the_bad_byte() -> None:
    _, diagnostics, _ = parse(b"a: 1\nb: caf\xe9\n")
    assert [str(d) for d in diagnostics] == [
        "f.yaml:2:7: error: file is not valid UTF-8 (byte 0xe9); save it as UTF-8"
    ]


def test_utf8_bom_is_accepted() -> None:
    data, diagnostics, _ = parse(b"\xef\xbb\xbfa: 1\n")
    assert data == {"a": 1}
    assert not diagnostics.items


def test_scalars_follow_yaml_1_1_like_pyyaml_safe_load() -> None:
    data, _, _ = parse("a: yes\nb: 010\nc: 1.5\nd: null\ne: '1'\n")
    assert data == {"a": True, "b": 8, "c": 1.5, "d": None, "e": "1"}


def test_repeated_scalars_resolve_as_pyyaml_does_quoted_or_not() -> None:
    """Tags of plain scalars are remembered per file: a quoted `'yes'` after a plain `yes`
    (and the other way round) must still be text."""
    text = "a: [yes, 'yes', yes, 1, '1', 1, ~, '~', ~, 1.5, '1.5', 2024-01-01, '2024-01-01']\n"
    text += "b: ['no', no, 'no']\nyes: 1\n'no': 2\n"
    data, diagnostics, _ = parse(text)
    assert not diagnostics.items
    assert data == yaml.safe_load(text)


def test_path_resolvers_added_to_pyyaml_elsewhere_are_not_used() -> None:
    """What a stack file means must not depend on what other code registered in PyYAML
    (and the loader's shortcuts assume no path resolvers)."""
    loader = yaml_source._BaseLoader
    if "yaml_path_resolvers" in vars(loader):
        pytest.skip("something in this process already added path resolvers")
    yaml.add_path_resolver("tag:yaml.org,2002:null", ["a"], str, Loader=loader)
    try:
        assert yaml.load("a: text\n", Loader=loader) == {"a": None}
        data, diagnostics, _ = parse("a: text\n")
    finally:
        del loader.yaml_path_resolvers
    assert not diagnostics.items
    assert data == {"a": "text"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int foo", "cannot read 'foo' as int"),
        ("!!bool maybe", "cannot read 'maybe' as bool"),
        ("!!timestamp x", "cannot read 'x' as timestamp"),
        ("!!float x", "cannot read 'x' as float"),
        ("9" * 5000, "cannot read '" + "9" * 37 + "...' as int"),
    ],
)
def test_a_value_its_tag_cannot_read_is_a_located_error(value: str, message: str) -> None:
    """PyYAML raises ValueError, KeyError or AttributeError for these, not a
    ConstructorError: they are errors at the value, not a traceback."""
    data, diagnostics, _ = parse(f"a:\n  b: {value}\n")
    assert data is None
    assert [str(d) for d in diagnostics] == [
        f"f.yaml:2:6: error: {message}; fix the value, or quote it to keep it as text"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # PyYAML's C reader: "found character that cannot start any token"
        ("a:\n\tb: 1\n", "a tab in indentation: YAML indents with spaces; replace the tab at 2:1"),
        ("a:\n  \tb: 1\n", "a tab in indentation: YAML indents with spaces; replace the tab at 2:3"),
        ("a:\n\t- 1\n", "a tab in indentation: YAML indents with spaces; replace the tab at 2:1"),
        ("a:\n  b:\n\t\tc: 1\n", "a tab in indentation: YAML indents with spaces; replace the 2 tabs at 3:1-2"),
        # "found a tab character that violates indentation"
        ("a:\n  b: 1\n\tc: 2\n", "a tab in indentation: YAML indents with spaces; replace the tab at 3:1"),
        # "found a tab character where an indentation space is expected" (a block scalar)
        ("a: |\n\tx\n", "a tab in indentation: YAML indents with spaces; replace the tab at 2:1"),
        ("a:\r\n  b: 1\r\n\tc: 2\r\n", "a tab in indentation: YAML indents with spaces; replace the tab at 3:1"),
        # Not indentation: after a sequence's `-`.
        ("a:\n  -\t1\n", "a tab where YAML expects spaces; replace the tab at 2:4"),
    ],
)  # fmt: skip
def test_a_tab_the_reader_stops_at_is_named(text: str, message: str) -> None:
    data, diagnostics, _ = parse(text)
    assert data is None
    (problem,) = diagnostics.items
    assert problem.message == f"{message} with spaces"


def test_tabs_yaml_accepts_are_kept() -> None:
    """Inside a block scalar's text, and before a comment, a tab is content or spacing."""
    data, diagnostics, _ = parse("a: |\n  x\n  \ty\nb: 1\t# note\n")
    assert not diagnostics.items
    assert data == {"a": "x\n\ty\n", "b": 1}
