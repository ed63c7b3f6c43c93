"""The manifest YAML writer reads back as exactly what was written."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iac.render.yaml_text import Writer

# Every test here runs with both walks: the C one (the default where built) and Python's.
pytestmark = pytest.mark.parametrize(
    "native", [pytest.param(True, id="c-walk"), pytest.param(False, id="python-walk")]
)


def dump(value: Any, native: bool) -> str:
    """One document, by a fresh writer with the walk under test."""
    return Writer(native=native).dump(value)


TRICKY = [
    "yes", "No", "ON", "off", "y", "N", "true", "False", "null", "~", "", " ", "1", "-1", "0x1F",
    "1e3", "1_000", "1:30", "2024-01-01", ".inf", "-.inf", ".nan", "=", "-", "--", "- a", "a: b",
    "a:", "#x", "a #b", "'q'", '"q"', "&a", "*a", "!tag", "%x", "@x", "`x", "{a}", "[a]", "a,b",
    "|", ">", "?", "multi\nline", "tab\there", "trailing ", " leading", "ünï", "--model=org/x",
    "vllm/vllm-openai:v0.6.3", "/health", "keda-hpa-x", "3g.40gb", "nvidia.com/gpu", "<<",
]  # fmt: skip


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_round_trip(native: bool, text: str) -> None:
    value = {"key": text, "list": [text], text or "empty": 1}
    assert yaml.safe_load(dump(value, native)) == value


def test_shapes_and_layout(native: bool) -> None:
    value: dict[str, Any] = {
        "a": {"b": [1, {"c": [], "d": {}}, [2, 3], []], "e": None, "f": True, "g": 1.5},
        "h": [{"i": 1, "j": [{"k": "v"}]}],
    }
    assert dump(value, native) == (
        "a:\n"
        "  b:\n"
        "  - 1\n"
        "  - c: []\n"
        "    d: {}\n"
        "  - - 2\n"
        "    - 3\n"
        "  - []\n"
        "  e: null\n"
        "  f: true\n"
        "  g: 1.5\n"
        "h:\n"
        "- i: 1\n"
        "  j:\n"
        "  - k: v\n"
    )
    assert yaml.safe_load(dump(value, native)) == value


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(exclude_categories=["Cs"])),  # no lone surrogates
)
_data = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_data)
def test_any_plain_data_round_trips(native: bool, value: Any) -> None:
    assert yaml.safe_load(dump(value, native)) == value


_lines = st.lists(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12), min_size=2, max_size=5
).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(_lines, st.booleans())
def test_multi_line_text_round_trips_as_a_block_or_quoted(
    native: bool, text: str, newline: bool
) -> None:
    value = {"outer": {"text": text + ("\n" if newline else "")}}
    assert yaml.safe_load(dump(value, native)) == value


def test_json_documents_are_written_as_literal_blocks(native: bool) -> None:
    text = '{\n  "panels": [],\n  "title": "llama"\n}'
    assert dump({"data": {"dashboard.json": text}}, native) == (
        'data:\n  dashboard.json: |-\n    {\n      "panels": [],\n      "title": "llama"\n    }\n'
    )
    # Empty lines stay empty (no trailing spaces); a trailing space or a control character
    # cannot be kept by a block, so such text is quoted.
    assert dump({"t": "a\n\n\tb\n"}, native) == "t: |\n  a\n\n  \tb\n"
    assert dump({"t": "a \nb"}, native) == 't: "a \\nb"\n'
    assert dump({"t": "a\nb\r"}, native) == 't: "a\\nb\\r"\n'


def test_one_writer_for_many_documents_writes_each_as_a_fresh_one(native: bool) -> None:
    """A Writer remembers the text of keys and strings: text that is written differently in
    a list and as a mapping value, and keys equal across types, must not mix."""
    block = "line one\nline two\n"
    documents: list[Any] = [
        {"a": [block], "b": block},
        {"b": block, "a": [block]},
        {True: "true", "true": True, 2: "2", "2": 2, 1.5: "y"},  # keys written as text
        {"true": "yes", "x": ["yes", "no", "plain"], "y": {"z": "plain"}},
        ["plain", {"plain": "plain"}, [block]],
    ]
    writer = Writer(native=native)
    for document in documents:
        assert writer.dump(document) == dump(document, native)
        assert writer.dump(document, "---") == "---\n" + dump(document, native)
    assert dump({"b": block}, native) == "b: |\n  line one\n  line two\n"
    assert dump({"a": [block]}, native) == 'a:\n- "line one\\nline two\\n"\n'


@settings(max_examples=200, deadline=None)
@given(st.lists(_data, min_size=2, max_size=4))
def test_a_shared_writer_writes_what_fresh_writers_write(native: bool, values: list[Any]) -> None:
    writer = Writer(native=native)
    assert [writer.dump(v) for v in values] == [dump(v, native) for v in values]
