"""The C walk of the YAML writer (`iac/render/_yaml_walk.c`) writes what the Python walk
writes, byte for byte, and fails as it fails."""

from __future__ import annotations

import collections
import enum
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.generate import large_stack
from iac.compile import compile_stack
from iac.render import yaml_text
from iac.render.yaml_text import Writer
from iac.validate import check_stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_c_walk_is_built_in_this_install() -> None:
    # `pip install -e .` compiles it (hatch_build.py); without a C compiler the build only
    # warns and iac walks in Python. The test suite needs both walks to compare them.
    assert yaml_text.NATIVE, (
        "iac.render._yaml_walk is missing: reinstall with a C compiler "
        "(`make setup`; IAC_REQUIRE_NATIVE=1 turns the build's warning into an error)"
    )


def outcome(value: Any, native: bool, start: str = "---") -> tuple[str, str]:
    """What a fresh writer makes of `value`: ("ok", text) or (error type, message)."""
    try:
        return "ok", Writer(native=native).dump(value, start)
    except TypeError as error:  # a value with no YAML form: the two walks must fail alike
        return type(error).__name__, str(error)


def assert_same(value: Any, start: str = "---") -> None:
    assert outcome(value, True, start) == outcome(value, False, start)


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


class Items(list):  # type: ignore[type-arg]
    pass


class Reversed(dict):  # type: ignore[type-arg]
    """A mapping whose items() differ from its storage order: both walks call items()."""

    def items(self) -> Any:
        return list(reversed(list(super().items())))


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(),  # nan and infinities too
    st.text(max_size=12),  # lone surrogates too
    st.text(alphabet="ab \n\t:#-", max_size=12),  # literal blocks and quoting
    st.sampled_from(["yes", "no", "~", "1.5", "2024-01-01", "a: b", "- x", "|", ""]),
    st.builds(Text, st.text(alphabet="ab\n ", max_size=8)),
    st.just(Colour.RED),
    st.just(b"bytes"),  # no YAML form: both raise TypeError
)
_data = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.builds(Items, st.lists(children, max_size=3)),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.booleans()), children,
                        max_size=4),
        st.builds(Reversed, st.dictionaries(st.text(max_size=3), children, max_size=3)),
        st.builds(collections.OrderedDict, st.dictionaries(st.text(max_size=3), children,
                                                           max_size=3)),
    ),
    max_leaves=25,
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(_data, st.sampled_from(["", "---"]))
def test_any_data_is_written_alike(value: Any, start: str) -> None:
    assert_same(value, start)


@settings(max_examples=300, deadline=None)
@given(st.lists(_data, min_size=2, max_size=5))
def test_a_shared_writer_remembers_alike(values: list[Any]) -> None:
    """The two walks share the memo format: one writer alternating walks writes what fresh
    ones write."""
    mixed = Writer()
    for index, value in enumerate(values):
        mixed._native = index % 2 == 0  # the walk is chosen per document here
        try:
            written = "ok", mixed.dump(value, "---")
        except TypeError as error:
            written = type(error).__name__, str(error)
        assert written == outcome(value, False)


@settings(max_examples=300, deadline=None)
@given(st.lists(_data, max_size=5), st.sampled_from(["", "---"]))
def test_many_documents_at_once_are_written_alike(values: list[Any], start: str) -> None:
    """`dump_all` (one C call for a whole render) writes what `dump` writes for each."""

    def written(native: bool) -> tuple[str, str]:
        try:
            return "ok", Writer(native=native).dump_all(values, start)
        except TypeError as error:
            return type(error).__name__, str(error)

    expected = written(False)
    assert written(True) == expected
    if expected[0] == "ok":
        one_by_one = Writer(native=False)
        assert expected[1] == "".join(one_by_one.dump(value, start) for value in values)


def test_deep_indentation_beyond_the_walks_fixed_buffers() -> None:
    nested_lists: Any = "leaf"
    for _ in range(100):  # a `- - - ...` lead of 200 characters
        nested_lists = [nested_lists, 1]
    nested_dicts: Any = {"leaf": ["a", "b"]}
    for depth in range(160):  # 320 spaces of indentation, lists at every depth
        nested_dicts = {f"k{depth}": nested_dicts, "n": [depth, {"m": depth}]}
    assert_same(nested_lists)
    assert_same({"x": nested_lists})
    assert_same([nested_lists])
    assert_same(nested_dicts)


def test_nesting_too_deep_is_a_recursion_error_not_a_crash() -> None:
    value: Any = "leaf"
    for _ in range(sys.getrecursionlimit() * 3):
        value = [value]
    with pytest.raises(RecursionError):
        Writer(native=True).dump(value)
    value = {}
    for _ in range(sys.getrecursionlimit() * 3):
        value = {"k": value}
    with pytest.raises(RecursionError):
        Writer(native=True).dump(value)


def test_a_lone_surrogate_is_kept_as_the_python_walk_keeps_it() -> None:
    value = {"a": ["ok", "\ud800"], "b": "\udfff x", "\ud801": 1}
    assert outcome(value, True) == outcome(value, False)
    assert outcome(value, True)[0] == "ok"
    documents = [{"a": "fine"}, value, ["also fine"]]
    assert Writer(native=True).dump_all(documents) == Writer(native=False).dump_all(documents)


def test_numbers_and_words() -> None:
    value = {
        "big": [2**63, -(2**63) - 1, 2**64 + 7, 10**40, -(10**40)],
        "edges": [2**63 - 1, -(2**63), 0, -1],
        "floats": [math.inf, -math.inf, math.nan, 5e-324, 1e300, -0.0],
        "words": [True, False, None, Colour.RED],
        True: False,
        None: None,
        1.5: 2,
    }
    assert_same(value)
    text = Writer(native=True).dump(value)
    assert "- 18446744073709551623\n" in text
    assert "- -9223372036854775808\n" in text


def test_rendered_stacks_are_written_alike() -> None:
    """Every example, each stack of the repository and a generated 20-model stack: the
    objects `iac render` writes."""
    paths = sorted((ROOT / "examples").glob("*/stack.yaml")) + sorted(
        (ROOT / "stacks").glob("*.yaml")
    )
    objects = [obj for path in paths for obj in compile_stack(check_stack(str(path))).objects]
    native, python = Writer(native=True), Writer(native=False)
    for obj in objects:
        assert native.dump(obj, "---") == python.dump(obj, "---")


def test_a_generated_stack_is_written_alike(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(large_stack(20))
    objects = compile_stack(check_stack(str(path))).objects
    native, python = Writer(native=True), Writer(native=False)
    assert [native.dump(o, "---") for o in objects] == [python.dump(o, "---") for o in objects]
