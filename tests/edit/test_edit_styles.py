"""Lifecycle verbs change only the lines they mean to, in any style of stack file (issue #20,
item 1).

A property over a corpus of styles: block and flow mappings and lists, lists indented under
their key or not, 2 and 4 spaces, comments on their own lines and after values (aligned or
not), blank lines, quoted keys and values, anchors with aliases and `<<` merges, CRLF, a
byte order mark, no final newline. For each stack and verb: the lines that changed are
only lines of what the verb means to change, the file loads to the data before with that
change made (no other model changed), line breaks, BOM and final newline are as they were,
and the printed diff, applied to the old file, gives the new one; `--dry-run` prints the
same diff and writes nothing. An edit through an anchor is refused, and only then.
"""

from __future__ import annotations

import copy
import difflib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iac import edit
from iac.diagnostics import Diagnostics
from iac.edit.text import Editor
from iac.errors import IacError
from iac.load.yaml_source import parse_yaml
from iac.spec.resolved import ResolvedStack
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT

Key = tuple[Any, ...]
Label = tuple[str, ...]
MODELS = ("a", "b")
MERGE = "<<"


@dataclass(frozen=True)
class Anchored:
    name: str
    value: Any


@dataclass(frozen=True)
class Alias:
    name: str


@dataclass(frozen=True)
class Style:
    indent: int
    lists: str
    """`indented` (`  - x` under the key), `flush` (`- x` at the key's column), `flow`."""
    flow: frozenset[Key]
    """Mappings written `{...}` (with everything inside them)."""
    flow_lines: bool
    """A flow mapping of deployments is written one entry a line (`{`, entries, `}`)."""
    trailing_comma: bool
    """... with a comma after its last entry."""
    comments: bool
    aligned: bool
    quote: str
    """'', `'` or `"`: the quote of keys and of deployment names as values."""
    newline: str
    bom: bool
    final_newline: bool
    blank_lines: bool
    split: bool
    cleanup: str
    envs_alias: bool
    """b's environments are an alias of a's (`environments: *envs`)."""
    deployment_merge: bool
    """b's v2 is `{<<: *v2}` of a's v2."""
    state_merge: bool
    """b's v3 is `{<<: *off}`, a's v3 being `&off {state: inactive}`."""
    state_merged_and_own: bool
    """... and b's v3 writes `state: inactive` itself too."""
    image_alias: bool
    """b's image is `*image` (shared, but never edited)."""
    seed: int

    @property
    def shared(self) -> set[Key]:
        """Mappings written once and used in more than one place."""
        shared: set[Key] = set()
        if self.envs_alias:
            shared |= {("models", "a", "environments"), ("models", "b", "environments")}
        if self.deployment_merge:
            shared.add(("models", "a", "deployments", "v2"))
        if self.state_merge:
            shared.add(("models", "a", "deployments", "v3"))
        return shared


FLOW_CANDIDATES = [
    (*prefix, *rest)
    for model in MODELS
    for prefix in [("models", model)]
    for rest in [
        ("deployments",),
        ("deployments", "v2"),
        ("deployments", "v4"),
        ("deployments", "v4", "env"),
        ("environments",),
        ("environments", "production"),
        ("environments", "production", "traffic"),
        ("environments", "production", "autoscaling"),
        ("environments", "production", "promotion"),
        ("environments", "staging"),
    ]
] + [("cluster",), ("policies",)]


def styles() -> st.SearchStrategy[Style]:
    return st.builds(
        Style,
        indent=st.sampled_from([2, 4]),
        lists=st.sampled_from(["indented", "flush", "flow"]),
        flow=st.frozensets(st.sampled_from(FLOW_CANDIDATES)),
        flow_lines=st.booleans(),
        trailing_comma=st.booleans(),
        comments=st.booleans(),
        aligned=st.booleans(),
        quote=st.sampled_from(["", "'", '"']),
        newline=st.sampled_from(["\n", "\r\n"]),
        bom=st.booleans(),
        final_newline=st.booleans(),
        blank_lines=st.booleans(),
        split=st.booleans(),
        cleanup=st.sampled_from(["deactivate", "keep", "scale_to_zero"]),
        envs_alias=st.booleans(),
        deployment_merge=st.booleans(),
        state_merge=st.booleans(),
        state_merged_and_own=st.booleans(),
        image_alias=st.booleans(),
        seed=st.integers(0, 2**16),
    )


def stack_data(style: Style) -> dict[str, Any]:
    """The stack, with the anchors and aliases of its style as markers."""
    models: dict[str, Any] = {}
    for name in MODELS:
        production: dict[str, Any] = (
            {"traffic": {"v1": 90, "v2": 10}} if style.split else {"deployment": "v1"}
        )
        production["autoscaling"] = {"min_replicas": 1, "max_replicas": 4}
        production["promotion"] = {"cleanup": style.cleanup}
        models[name] = {
            "image": "vllm/vllm-openai:v0.6.0",
            "args": ["--port", "8000"],
            "deployments": {
                "v1": {},
                "v2": {"image": "vllm/vllm-openai:v0.7.0"},
                "v3": {"state": "inactive"},
                "v4": {"args": ["--port", "8001"], "env": {"LOG_LEVEL": "debug"}},
                "dev": {"kind": "development"},
            },
            "environments": {"production": production, "staging": {"deployment": "v4"}},
        }
    a, b = models["a"], models["b"]
    if style.envs_alias:
        a["environments"] = Anchored("envs", a["environments"])
        b["environments"] = Alias("envs")
    if style.deployment_merge:
        a["deployments"]["v2"] = Anchored("v2", a["deployments"]["v2"])
        b["deployments"]["v2"] = {MERGE: Alias("v2")}
    if style.state_merge:
        a["deployments"]["v3"] = Anchored("off", a["deployments"]["v3"])
        b["deployments"]["v3"] = {MERGE: Alias("off")}
        if style.state_merged_and_own:
            b["deployments"]["v3"]["state"] = "inactive"
    if style.image_alias:
        a["image"] = Anchored("image", a["image"])
        b["image"] = Alias("image")
    return {
        "version": 1,
        "cluster": {"name": "c"},
        "policies": {"pinned_images": {"enabled": False}, "resources_declared": {"enabled": False}},
        "models": models,
        "auth": {"public": True},
    }


def label_of(path: Key, style: Style) -> Label:
    """What a line belongs to, for the lines a verb may change."""
    if len(path) >= 3 and path[0] == "models":
        model, part = path[1], path[2]
        if part == "deployments":
            if len(path) >= 4:
                return ("deployment", model, path[3])
            return ("deployments", model) if path[:3] in style.flow else ("other",)
        if part == "environments":
            if len(path) >= 5 and path[4] in ("deployment", "traffic"):
                return ("serving", model, path[3])
            if len(path) == 4 and path in style.flow:
                return ("environment", model, path[3])
            if len(path) == 3 and path in style.flow:
                return ("environments", model)
    return ("other",)


@dataclass
class Writer:
    """Writes the stack in a style, one label per line."""

    style: Style
    lines: list[tuple[str, Label]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.random = random.Random(self.style.seed)

    def document(self, data: dict[str, Any]) -> str:
        if self.style.comments:
            self.lines.append(("# A stack written in one style of many.", ("comment",)))
        self.mapping(data, (), 0)
        style = self.style
        text = style.newline.join(line for line, _ in self.lines)
        return text + (style.newline if style.final_newline else "")

    def mapping(self, data: dict[Any, Any], path: Key, column: int) -> None:
        for key, value in data.items():
            self.entry(key, value, path, column)

    def entry(self, key: Any, value: Any, path: Key, column: int) -> None:
        style, here = self.style, (*path, key)
        label = label_of(here, style)
        if style.blank_lines and len(here) == 2 and self.random.random() < 0.5:
            self.lines.append(("", ("blank",)))
        if style.comments and self.random.random() < 0.3:
            indent = 0 if self.random.random() < 0.2 else column
            self.lines.append((" " * indent + f"# about {key}", label))  # goes with it
        head = " " * column + self.key(key) + ":"
        anchor, inner = ("", value)
        if isinstance(value, Anchored):
            anchor, inner = f" &{value.name}", value.value
        if isinstance(inner, dict) and inner and here not in style.flow:
            self.lines.append((self.trailing(head + anchor), label))
            self.mapping(inner, here, column + style.indent)
        elif here[2:] == ("deployments",) and style.flow_lines and isinstance(inner, dict):
            self.lines.append((self.trailing(f"{head}{anchor} {{"), label))
            for index, (name, deployment) in enumerate(inner.items()):
                comma = "," if index + 1 < len(inner) or style.trailing_comma else ""
                entry = f"{self.key(name)}: {self.flow(deployment, (*here, name))}{comma}"
                line = " " * (column + style.indent) + entry
                self.lines.append((self.trailing(line), label_of((*here, name), style)))
            self.lines.append((" " * column + "}", label))
        elif isinstance(inner, list) and style.lists != "flow":
            self.lines.append((self.trailing(head + anchor), label))
            dash = column + (style.indent if style.lists == "indented" else 0)
            for item in inner:
                self.lines.append((self.trailing(" " * dash + "- " + self.scalar(item)), label))
        else:
            self.lines.append((self.trailing(f"{head}{anchor} {self.flow(inner, here)}"), label))

    def flow(self, value: Any, path: Key) -> str:
        if isinstance(value, Anchored):
            return f"&{value.name} {self.flow(value.value, path)}"
        if isinstance(value, Alias):
            return f"*{value.name}"
        if isinstance(value, dict):
            inner = ", ".join(
                f"{self.key(k)}: {self.flow(v, (*path, k))}" for k, v in value.items()
            )
            return "{" + inner + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.scalar(item) for item in value) + "]"
        if path[-1:] == ("deployment",) and self.style.quote:
            return f"{self.style.quote}{value}{self.style.quote}"
        return self.scalar(value)

    def key(self, key: Any) -> str:
        if key == MERGE or not self.style.quote or not isinstance(key, str):
            return str(key)
        return f"{self.style.quote}{key}{self.style.quote}"

    def scalar(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.isdigit():
            return f'"{value}"'
        return str(value)

    def trailing(self, line: str) -> str:
        if not self.style.comments or self.random.random() < 0.6:
            return line
        if self.style.aligned:
            return line + " " * max(2, 44 - len(line)) + "# note"
        return line + " # note"


# -- what each verb should do -----------------------------------------------------------------


@dataclass
class Expected:
    """What a verb should do to a stack: one of refuse, nothing, or an edit."""

    refusal: str | None = None
    nothing: str | None = None
    change: Callable[[dict[str, Any]], None] | None = None
    """The change to the data as loaded."""
    edited: list[Key] = field(default_factory=list)
    """Mappings the edit writes in: refused if any of them is shared."""
    labels: set[Label] = field(default_factory=set)
    """The lines it may change (and insert after)."""
    most_lines: int = 0
    """At most this many lines removed plus added."""


def expect(verb: str, model: str, deployment: str, copy_: bool, data: dict[str, Any]) -> Expected:
    written = data["models"][model]
    deployments, environments = written["deployments"], written["environments"]
    served = {
        name: env_name
        for env_name, env in environments.items()
        for name in (env.get("traffic") or {env.get("deployment"): 100})
    }
    state = deployments[deployment].get("state", "active")
    mine: Key = ("models", model, "deployments", deployment)
    own: set[Label] = {("deployment", model, deployment), ("deployments", model)}
    if verb == "deactivate":
        if deployment in served:
            return Expected(refusal=f"'{deployment}' serves {served[deployment]}; promote")
        if state == "inactive":
            return Expected(nothing=f"{deployment} of {model} is inactive already; nothing to do")

        def deactivated(data: dict[str, Any]) -> None:
            data["models"][model]["deployments"][deployment]["state"] = "inactive"

        return Expected(change=deactivated, edited=[mine], labels=own, most_lines=2)
    if verb == "activate":
        if state == "active":
            return Expected(nothing=f"{deployment} of {model} is active already; nothing to do")

        def activated(data: dict[str, Any]) -> None:
            data["models"][model]["deployments"][deployment]["state"] = "active"

        return Expected(change=activated, edited=[mine], labels=own, most_lines=2)
    kind = deployments[deployment].get("kind", "published")
    production = environments["production"]
    serving = list(production.get("traffic") or [production["deployment"]])
    if kind == "development" and not copy_:
        return Expected(refusal=f"'{deployment}' is a development deployment, which never")
    if state == "inactive":
        return Expected(refusal=f"'{deployment}' is inactive; activate it first")
    if serving == [deployment]:
        return Expected(nothing=f"{deployment} serves production of {model} already; nothing to do")
    elsewhere = served.get(deployment, "production") != "production"
    if elsewhere and not copy_:
        return Expected(refusal=f"'{deployment}' serves {served[deployment]}, and a deployment")
    promoted = f"{deployment}-production" if elsewhere or kind == "development" else deployment
    replaced = [name for name in serving if name != promoted]
    cleanup = production["promotion"]["cleanup"]
    scaling = production["autoscaling"]
    env_path: Key = ("models", model, "environments", "production")

    def promote(data: dict[str, Any]) -> None:
        model_data = data["models"][model]
        if promoted != deployment:
            model_data["deployments"][promoted] = {"from": deployment}
        env = model_data["environments"]["production"]
        env.pop("traffic", None)
        env["deployment"] = promoted
        for name in replaced:
            target = model_data["deployments"][name]
            if cleanup == "deactivate":
                target["state"] = "inactive"
            elif cleanup == "keep":
                target["autoscaling"] = {**(target.get("autoscaling") or {}), **scaling}

    expected = Expected(change=promote, edited=[env_path])
    expected.labels = {
        ("serving", model, "production"),
        ("environment", model, "production"),
        ("environments", model),
    }
    expected.most_lines = 2 + 2 * 3  # the environment's lines are counted on top
    if promoted != deployment:
        expected.edited.append(("models", model, "deployments"))
        expected.labels |= own
        expected.most_lines += 2
    if cleanup != "scale_to_zero":
        for name in replaced:
            expected.edited.append(("models", model, "deployments", name))
            expected.labels |= {("deployment", model, name), ("deployments", model)}
            expected.most_lines += 2 if cleanup == "deactivate" else 4
    return expected


# -- checks -------------------------------------------------------------------------------------


def loaded(raw: bytes) -> dict[str, Any]:
    document = parse_yaml(raw, "stack.yaml", Diagnostics())
    assert document is not None
    data: dict[str, Any] = document.data
    for model in data["models"].values():  # `state: active` is what no state means
        for deployment in model["deployments"].values():
            if deployment.get("state") == "active":
                del deployment["state"]
    return data


def resolved_view(stack: ResolvedStack, model: str) -> Any:
    found = stack.models[model]
    return (
        {
            name: (d.state, d.kind, d.container, d.autoscaling, d.copied_from)
            for name, d in found.deployments.items()
        },
        {name: (e.traffic, e.autoscaling, e.promotion) for name, e in found.environments.items()},
    )


def apply_diff(before: str, diff: str) -> str:
    """A unified diff applied to the text it was made from."""
    old = before.splitlines(keepends=True)
    lines = diff.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    index = 2  # after the --- and +++ lines
    while index < len(lines):
        hunk = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", lines[index])
        assert hunk, lines[index]
        start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
        out += old[position:start]
        position = start
        index += 1
        while index < len(lines) and not lines[index].startswith("@@"):
            line = lines[index]
            index += 1
            text = line[1:]
            if index < len(lines) and lines[index].startswith("\\ No newline"):
                text = text.removesuffix("\n")
                index += 1
            if line[0] in " -":
                assert old[position] == text, (old[position], text)
                position += 1
            if line[0] in " +":
                out.append(text)
    return "".join(out + old[position:])


def changed(
    labels: list[Label], before: str, after: str
) -> tuple[int, list[tuple[str, list[Label], list[str]]]]:
    """Lines removed plus added, and each change with the labels of the lines it touched."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(labels)
    count, changes = 0, []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        count += (i2 - i1) + (j2 - j1)
        touched = range(i1, i2) if i2 > i1 else range(i1 - 1, i1)
        changes.append((tag, [labels[i] for i in touched], new[j1:j2]))
    return count, changes


VERBS: list[tuple[str, str, bool]] = (
    [("promote", d, c) for d in ("v1", "v2", "v4", "dev") for c in (False, True)]
    + [("deactivate", d, False) for d in ("v1", "v2", "v3", "dev")]
    + [("activate", d, False) for d in ("v2", "v3")]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    style=styles(),
    verb=st.sampled_from(VERBS),
    model=st.sampled_from(MODELS),
    dry_run_first=st.booleans(),
)
def test_a_verb_changes_only_the_lines_it_means_to(
    tmp_path: Path, style: Style, verb: tuple[str, str, bool], model: str, dry_run_first: bool
) -> None:
    writer = Writer(style)
    body = writer.document(stack_data(style))
    labels = [label for _, label in writer.lines]
    raw = (("\ufeff" if style.bom else "") + body).encode()
    path = tmp_path / "stack.yaml"
    path.write_bytes(raw)
    before_stack = check_stack(str(path))  # every style loads, and to the same stack
    before = loaded(raw)
    name, deployment, copy_ = verb
    expected = expect(name, model, deployment, copy_, before)

    def run(dry_run: bool) -> edit.Edit:
        if name == "promote":
            return edit.promote(str(path), model, deployment, "production", copy_, dry_run)
        verb_function = edit.deactivate if name == "deactivate" else edit.activate
        return verb_function(str(path), model, deployment, dry_run)

    shared = [
        p for p in expected.edited if any(p[: len(s)] == s for s in style.shared)
    ] and expected.change
    event(
        "refused"
        if expected.refusal
        else "shared"
        if shared
        else "nothing to do"
        if expected.nothing
        else "edited"
    )
    if expected.refusal or shared:
        with pytest.raises(IacError) as refused:
            run(dry_run=False)
        if expected.refusal:
            assert str(refused.value).startswith(expected.refusal)
        else:
            assert "is shared through the YAML anchor &" in str(refused.value)
            assert str(refused.value).startswith(f"{path}:")
        assert path.read_bytes() == raw
        return
    if expected.nothing:
        result = run(dry_run=False)
        assert (result.summary, result.diff, result.written) == (expected.nothing, "", False)
        assert path.read_bytes() == raw
        return

    dry = run(dry_run=True) if dry_run_first else None
    assert path.read_bytes() == raw  # a dry run writes nothing
    result = run(dry_run=False)
    after_raw = path.read_bytes()
    assert dry is None or (dry.diff, dry.summary) == (result.diff, result.summary)

    # The bytes: the BOM, the line breaks and the final newline as they were.
    assert after_raw.startswith(b"\xef\xbb\xbf") == style.bom
    after = after_raw.decode().removeprefix("\ufeff")
    if style.newline == "\r\n":
        assert after.count("\n") == after.count("\r\n")
    else:
        assert "\r" not in after
    assert after.endswith(style.newline) == style.final_newline
    # The printed diff is what was written.
    assert apply_diff(body, result.diff) == after
    # Only the lines meant changed.
    count, changes = changed(labels, body, after)
    serving = sum(1 for label in labels if label in expected.labels and label[0] == "serving")
    assert count <= expected.most_lines + serving, changes
    for tag, touched, _ in changes:
        assert all(label in expected.labels for label in touched), (tag, touched, changes)
    # The data: what it was, with the change made, and no other model changed.
    assert expected.change is not None
    want = copy.deepcopy(before)
    expected.change(want)
    assert loaded(after_raw) == loaded_normalised(want)
    after_stack = check_stack(str(path))
    for other in MODELS:
        if other != model:
            assert resolved_view(after_stack, other) == resolved_view(before_stack, other)


def loaded_normalised(data: dict[str, Any]) -> dict[str, Any]:
    for model in data["models"].values():
        for deployment in model["deployments"].values():
            if deployment.get("state") == "active":
                del deployment["state"]
    return data


# -- hand-written files, exact results ------------------------------------------------------

ANCHORED = """\
version: 1
cluster: {name: c}
policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}
models:
  a:
    image: x
    deployments:
      v1: {}
      v2: &v2 {image: y}
    environments: &envs
      production:
        deployment: v1
  b:
    image: x
    deployments:
      v1: {}
      v2: {<<: *v2}
    environments: *envs
auth: {public: true}
"""


@pytest.mark.parametrize("model", ["a", "b"])
def test_a_promotion_through_an_anchor_is_refused_naming_both_places(
    tmp_path: Path, model: str
) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(ANCHORED)
    with pytest.raises(IacError) as refused:
        edit.promote(str(path), model, "v2", "production")
    assert str(refused.value) == (
        f"{path}:10:19: cannot edit models.{model}.environments.production.deployment alone: "
        "models.a.environments is shared through the YAML anchor &envs, used again as "
        "models.b.environments by the alias at line 18, and an edit would change every place "
        "it is used. Write it out in full where it is used again (in place of the alias or "
        "`<<`), then run the command again"
    )
    assert path.read_text() == ANCHORED


def test_an_edit_of_a_merged_mapping_is_refused_and_of_the_one_merging_it_is_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(ANCHORED)
    with pytest.raises(IacError) as refused:
        edit.deactivate(str(path), "a", "v2")
    assert str(refused.value) == (
        f"{path}:9:11: cannot edit models.a.deployments.v2.state alone: models.a.deployments.v2 "
        "is shared through the YAML anchor &v2, used again merged into models.b.deployments.v2 "
        "by `<<` at line 17, and an edit would change every place it is used. Write it out in "
        "full where it is used again (in place of the alias or `<<`), then run the command again"
    )
    result = edit.deactivate(str(path), "b", "v2")
    assert "\n-      v2: {<<: *v2}\n+      v2: {<<: *v2, state: inactive}\n" in result.diff
    assert path.read_text() == ANCHORED.replace("{<<: *v2}", "{<<: *v2, state: inactive}")


LAYOUT = """\
version: 1
imports:
  - MODULES/vllm.yaml
cluster:
  name: c
policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}
auth: {public: true}
models:
  llama:
    template: vllm
    params: {hf_model: org/llama}
    args:
    - --max-model-len
    - "8192"
    deployments:
      v3:
        image: vllm/vllm-openai:v0.6.0
      v4:
        state: inactive
      v5: {}
      v6: {}
    environments:
      production:
        traffic:        # a canary
          v3: 90        # the stable one
          v5: 10
        autoscaling: {min_replicas: 2, max_replicas: 6}
        promotion: {cleanup: keep}
      staging:
        deployment: v6"""


def layout(tmp_path: Path, newline: str = "\n", bom: str = "") -> Path:
    path = tmp_path / "stack.yaml"
    text = LAYOUT.replace("MODULES", str(ROOT / "modules")).replace("\n", newline)
    path.write_bytes((bom + text).encode())
    return path


def test_the_common_indented_list_style_is_not_reindented(tmp_path: Path) -> None:
    """ruamel guessed (4, 2) from `imports:\\n  - ...` and rewrote every line."""
    path = layout(tmp_path)
    before = path.read_text()
    edit.promote(str(path), "llama", "v5", "production")
    assert path.read_text() == before.replace(
        "        traffic:        # a canary\n          v3: 90        # the stable one\n"
        "          v5: 10\n",
        "        deployment: v5  # a canary\n",
    ).replace(
        "        image: vllm/vllm-openai:v0.6.0\n",
        "        image: vllm/vllm-openai:v0.6.0\n"
        "        autoscaling: {min_replicas: 2, max_replicas: 6}\n",
    )


def test_crlf_a_bom_and_no_final_newline_are_kept(tmp_path: Path) -> None:
    path = layout(tmp_path, "\r\n", "\ufeff")
    before = path.read_bytes()
    result = edit.promote(str(path), "llama", "v6", "production", copy=True)
    expected = before.replace(
        b"      v6: {}\r\n", b"      v6: {}\r\n      v6-production: {from: v6}\r\n"
    ).replace(
        b"        traffic:        # a canary\r\n          v3: 90        # the stable one\r\n"
        b"          v5: 10\r\n",
        b"        deployment: v6-production # a canary\r\n",
    )
    expected = expected.replace(
        b"      v5: {}\r\n", b"      v5: {autoscaling: {min_replicas: 2, max_replicas: 6}}\r\n"
    )
    expected = expected.replace(
        b"        image: vllm/vllm-openai:v0.6.0\r\n",
        b"        image: vllm/vllm-openai:v0.6.0\r\n"
        b"        autoscaling: {min_replicas: 2, max_replicas: 6}\r\n",
    )
    assert path.read_bytes() == expected
    assert path.read_bytes().startswith(b"\xef\xbb\xbfversion: 1\r\n")
    assert path.read_bytes().endswith(b"deployment: v6")
    # The diff printed is the change written: CRLF lines as they are, 4 removed and 4 added.
    changes = [line for line in result.diff.splitlines(keepends=True)[2:] if line[0] in "+-"]
    assert len(changes) == 8
    assert all(line.endswith("\r\n") for line in changes)
    assert "+      v6-production: {from: v6}\r\n" in result.diff
    edit.activate(str(path), "llama", "v4")  # the only key of its block: said, not removed
    assert b"      v4:\r\n        state: active\r\n" in path.read_bytes()
    assert path.read_bytes().endswith(b"deployment: v6")


def test_a_file_without_a_final_newline_gets_a_diff_that_says_so(tmp_path: Path) -> None:
    path = layout(tmp_path)
    result = edit.promote(str(path), "llama", "v5", "staging", copy=True)
    assert result.diff.endswith(
        "-        deployment: v6\n\\ No newline at end of file\n"
        "+        deployment: v5-staging\n\\ No newline at end of file\n"
    )
    assert path.read_text().endswith("staging:\n        deployment: v5-staging")


def test_a_value_in_a_form_iac_does_not_edit_is_refused(tmp_path: Path) -> None:
    path = layout(tmp_path)
    path.write_text(path.read_text().replace("deployment: v6", "deployment: >-\n          v6"))
    with pytest.raises(IacError) as refused:
        edit.promote(str(path), "llama", "v3", "staging", copy=True)
    assert str(refused.value) == (
        f"{path}:30:21: models.llama.environments.staging.deployment is written in a form iac "
        "does not edit; write `deployment: v3-staging` there by hand"
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("d: {a: 1, b: 2}        # c\n", "d: {a: 1, b: 2, c: 3}  # c\n"),  # stays aligned
        ("d: {}\n", "d: {c: 3}\n"),
        ("d:\n\n", "d: {c: 3}\n\n"),  # written empty
        ("d: {\n  a: 1,\n  b: 2\n}\n", "d: {\n  a: 1,\n  b: 2,\n  c: 3\n}\n"),
        ("d: {\n  a: 1,\n  b: 2,  # two\n}\n", "d: {\n  a: 1,\n  b: 2,  # two\n  c: 3,\n}\n"),
        ("d: {a: 1,\n   b: 2}\n", "d: {a: 1,\n   b: 2, c: 3}\n"),
        ("d:\n    'a': 1\n    'b': {x: 1}\n", "d:\n    'a': 1\n    'b': {x: 1}\n    'c': 3\n"),
        ("d:\n  a:\n    x: 1\n  b: *e\n", "d:\n  a:\n    x: 1\n  b: *e\n  c: 3\n"),
        (
            "d:\n  b: |\n    text\n\n  # next\ne: 1",
            "d:\n  b: |\n    text\n  c: 3\n\n  # next\ne: 1",
        ),
    ],
)
def test_a_key_is_added_in_the_style_of_its_mapping(before: str, after: str) -> None:
    text = ("e: &e 0\n" if "*e" in before else "") + before
    data = yaml.safe_load(text)
    editor = Editor("f.yaml", text, data)
    editor.set(("d",), "c", 3)
    assert editor.result() == ("e: &e 0\n" if "*e" in before else "") + after
    assert yaml.safe_load(editor.result()) == editor.expected()
