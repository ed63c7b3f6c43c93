"""`load_stack(..., reuse=base)` / `check_stack(..., reuse=base)`: a head loaded with the base's
unchanged models is the same, object for object, problem for problem and line for line, as
the head loaded on its own (what `iac plan` does with the base it loads anyway)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.generate import changed_stack, large_stack
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.load import load_stack
from iac.load.rebase import rebase
from iac.spec.resolved import (
    Origins,
    ResolvedDeployment,
    ResolvedEnvironment,
    ResolvedModel,
    ResolvedStack,
    Written,
)
from iac.validate import check_stack
from tests.conftest import ROOT

EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/stack.yaml"))
INVALID = sorted(p for p in (ROOT / "tests" / "cases" / "invalid").iterdir() if p.is_dir())


# --- how a head is compared -------------------------------------------------------------


def loaded(path: Path, reuse: ResolvedStack | None = None) -> tuple[ResolvedStack, list[str]]:
    diagnostics = Diagnostics()
    stack = load_stack(str(path), diagnostics, reuse)
    assert stack is not None, [str(d) for d in diagnostics.items]
    return stack, [str(d) for d in diagnostics.items]  # in the order reported


def checked(path: Path, reuse: ResolvedStack | None = None) -> tuple[ResolvedStack | None, str]:
    """The checked stack and its warnings, or None and the StackInvalid message."""
    diagnostics = Diagnostics()
    try:
        stack = check_stack(str(path), diagnostics, reuse=reuse)
    except StackInvalid as exc:
        return None, str(exc)
    return stack, "\n".join(str(d) for d in diagnostics.items)


def writtens(stack: ResolvedStack) -> Iterator[Written]:
    for model in stack.models.values():
        yield model.origins.anchor
        for item in (*model.deployments.values(), *model.environments.values()):
            yield item.origins.anchor
            yield from item.origins.written.values()


def where(origins: Origins) -> list[tuple[object, ...]]:
    pairs = [((), origins.anchor), *origins.written.items()]
    return [(rel, str(w.location), w.path, w.at_key) for rel, w in pairs]


def in_order(stack: ResolvedStack) -> list[object]:
    """What `==` leaves out: the order of each mapping, and each setting's FILE:LINE:COL."""
    out: list[object] = [list(stack.spec.models), repr(stack.spec), stack.file, stack.files]
    for name, model in stack.models.items():
        out.append((name, model.template, where(model.origins)))
        for d in model.deployments.values():
            out.append((d.name, repr(d.container), repr(d.autoscaling), where(d.origins)))
        for e in model.environments.values():
            out.append(
                (e.name, e.traffic, repr(e.autoscaling), repr(e.promotion), where(e.origins))
            )
    return out


def assert_same_head(head: Path, base: ResolvedStack) -> ResolvedStack:
    """Load `head` with and without `base`, through both entry points; they must agree in
    everything. Returns the head loaded with `base`."""
    alone, reported_alone = loaded(head)
    reused, reported = loaded(head, base)
    assert reused == alone
    assert in_order(reused) == in_order(alone)
    assert reported == reported_alone
    # Nothing located in the base's files: every position is read from the head's.
    assert not {id(w.source) for w in writtens(reused)} & {id(w.source) for w in writtens(base)}
    assert reused.source is not base.source
    checked_alone, message_alone = checked(head)
    checked_reused, message = checked(head, base)
    assert message == message_alone
    assert checked_reused == checked_alone
    return reused


def taken(stack: ResolvedStack, base: ResolvedStack) -> set[str]:
    """The models `stack` took from `base` (the same validated objects, not made again)."""
    return {
        name
        for name, model in stack.models.items()
        if name in base.models
        and all(
            d.container is base.models[name].deployments[d.name].container
            for d in model.deployments.values()
        )
    }


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of `text` holding `needle`."""
    (found,) = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return found


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def modules(folder: Path) -> None:
    """Copies of the bundled modules, to change under the stacks that import them."""
    for name in ("vllm.yaml", "tei.yaml"):
        shutil.copy(ROOT / "modules" / name, folder / name)


STACK = """\
version: 1
imports: [vllm.yaml, tei.yaml]
cluster: {name: c, domain: models.example.com}
defaults:
  autoscaling: {scale_down_delay: 15m}
policies: {waivers: [{rule: secret-in-env, model: charlie, reason: a test value}]}
models:
  alpha:
    template: vllm
    params: {hf_model: org/alpha}
    resources: {accelerator: "H100:1", cpu: "8", memory: 64Gi}
    env: {A: "1", B: "2"}
    deployments:
      v1: {}
      v2: {image: vllm/vllm-openai:v0.7.0, state: inactive}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 4}}
  bravo:
    template: tei
    params: {hf_model: BAAI/bge-large-en-v1.5}
    deployments: {v1: {}, dev: {from: v1, kind: development}}
    environments:
      production:
        traffic: {v1: 100}
  charlie:
    image: registry.example.com/charlie:1
    env: {API_TOKEN: plain-text}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    modules(tmp_path)
    return tmp_path


def pair(folder: Path, base_text: str, head_text: str) -> tuple[ResolvedStack, Path]:
    base, problems = loaded(write(folder / "base.yaml", base_text))
    assert not problems
    return base, write(folder / "head.yaml", head_text)


# --- unchanged models are taken, and the head is the same --------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_unchanged_example_takes_every_model(example: Path) -> None:
    base = check_stack(str(example))
    reused = assert_same_head(example, base)
    assert taken(reused, base) == set(base.models)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_an_example_with_every_line_moved_is_located_in_the_head(
    example: Path, tmp_path: Path
) -> None:
    base = check_stack(str(example))
    text = (example / "stack.yaml").read_text(encoding="utf-8")
    # Imports named from the copy's folder: the same module files.
    text = text.replace("../../modules/", f"{ROOT / 'modules'}/")
    head = write(tmp_path / "stack.yaml", "# moved down\n\n" + text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == set(base.models)
    for name, model in reused.models.items():
        assert model.origins().line == base.models[name].origins().line + 2
        assert model.origins().file == str(head)


@pytest.mark.parametrize("models", [12, 41])
def test_benchmark_pair_takes_the_unchanged_models(tmp_path: Path, models: int) -> None:
    text = large_stack(models)
    changed = {f"model-{i:04d}" for i in range(0, models, 10)}
    base, head = pair(tmp_path, text, changed_stack(text))
    reused = assert_same_head(head, base)
    assert taken(reused, base) == set(base.models) - changed
    # And the other way round: the head as the base of its base.
    back, _ = loaded(head)
    assert taken(assert_same_head(tmp_path / "base.yaml", back), back) == set(base.models) - changed


def test_unchanged_models_moved_to_other_lines(folder: Path) -> None:
    alpha, rest = STACK.split("  bravo:\n")
    new = "  delta:\n    image: registry.example.com/delta:1\n    deployments: {v1: {}}\n"
    head_text = alpha.replace("models:\n", "# a comment\nmodels:\n" + new) + "  bravo:\n" + rest
    base, head = pair(folder, STACK, head_text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    line = line_of(head_text, "API_TOKEN")
    assert line == line_of(STACK, "API_TOKEN") + 4
    token = reused.models["charlie"].deployments["v1"].origins(("env", "API_TOKEN"))
    assert (token.file, token.line) == (str(head), line)
    _, warnings = checked(head, base)
    located = f"{head}:{line}:22: info: models.charlie.env.API_TOKEN: waived (a test value)"
    assert located in warnings


def test_models_in_another_order(folder: Path) -> None:
    alpha, bravo = STACK.split("  bravo:\n")
    head, charlie = bravo.split("  charlie:\n")
    reordered = alpha.replace("models:\n", "models:\n  charlie:\n" + charlie) + "  bravo:\n" + head
    base, path = pair(folder, STACK, reordered)
    reused = assert_same_head(path, base)
    assert list(reused.models) == ["charlie", "alpha", "bravo"]
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}


# --- what a model is resolved from changed: it is resolved anew -----------------------------


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("vllm.yaml", "image: vllm/vllm-openai:v0.34.0", "image: vllm/vllm-openai:v0.34.1"),
        ("vllm.yaml", "default: 8192", "default: 4096"),
        ("vllm.yaml", "default: 8192", "default: '8192'"),
        ("vllm.yaml", 'VLLM_NO_USAGE_STATS: "1"', 'VLLM_NO_USAGE_STATS: "0"'),
        ("tei.yaml", 'cpu: "4"', 'cpu: "6"'),
    ],
)
def test_a_changed_template_takes_none_of_its_models(
    folder: Path, module: str, old: str, new: str
) -> None:
    base, head = pair(folder, STACK, STACK)
    text = (folder / module).read_text(encoding="utf-8")
    assert old in text
    write(folder / module, text.replace(old, new, 1))
    reused = assert_same_head(head, base)
    changed = {"vllm.yaml": "alpha", "tei.yaml": "bravo"}[module]
    assert taken(reused, base) == {"alpha", "bravo", "charlie"} - {changed}


def test_a_template_moved_in_its_file_is_located_there(folder: Path) -> None:
    base, head = pair(folder, STACK, STACK)
    module = folder / "vllm.yaml"
    write(module, "# three lines\n# further\n# down\n" + module.read_text(encoding="utf-8"))
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    image = reused.models["alpha"].deployments["v1"].origins(("image",))
    assert image.file == str(module)
    assert image.line == base.models["alpha"].deployments["v1"].origins(("image",)).line + 3


def test_a_base_with_its_own_copies_of_the_modules(folder: Path) -> None:
    # As `iac plan --base git:REF` writes the base: elsewhere, with the modules it imports.
    elsewhere = folder / "base-at-ref"
    elsewhere.mkdir()
    modules(elsewhere)
    base, _ = loaded(write(elsewhere / "stack.yaml", STACK))
    head = write(folder / "head.yaml", STACK)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    image = reused.models["alpha"].deployments["v1"].origins(("image",))
    assert image.file == str(folder / "vllm.yaml")


def test_a_template_of_the_same_name_from_another_module(folder: Path) -> None:
    write(folder / "other.yaml", (folder / "vllm.yaml").read_text().replace("v0.34.0", "v0.34.1"))
    base, head = pair(folder, STACK, STACK.replace("[vllm.yaml,", "[other.yaml,"))
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"bravo", "charlie"}


@pytest.mark.parametrize(
    ("defaults", "kept"),
    [
        ("  autoscaling: {scale_down_delay: 20m}", set()),
        ("  autoscaling: {scale_down_delay: 15m}\n  secrets: [hf-token]", set()),
        # The same values once validated: what models are merged with is unchanged.
        ("  autoscaling: {scale_down_delay: 900}", {"alpha", "bravo", "charlie"}),
    ],
)
def test_changed_defaults_take_no_model_unless_equal_once_validated(
    folder: Path, defaults: str, kept: set[str]
) -> None:
    head_text = STACK.replace("  autoscaling: {scale_down_delay: 15m}", defaults, 1)
    base, head = pair(folder, STACK, head_text)
    assert taken(assert_same_head(head, base), base) == kept


def test_other_top_level_changes_take_every_model(folder: Path) -> None:
    head_text = STACK.replace(
        "cluster: {name: c, domain: models.example.com}",
        "cluster: {name: d, namespace: serving, provisioner: karpenter}\n"
        "pricing: {gpu_hourly: {H100: 3.5}}",
    )
    base, head = pair(folder, STACK, head_text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    assert reused.spec.cluster.name == "d"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # Equal in Python (1 == True), not as the text a parameter fills in.
        ("tensor_parallel_size: 1}", "tensor_parallel_size: true}"),
        ("tensor_parallel_size: 1}", "tensor_parallel_size: 1.0}"),
        # Equal as dicts, in another order.
        ('env: {A: "1", B: "2"}', 'env: {B: "2", A: "1"}'),
        (
            "{image: vllm/vllm-openai:v0.7.0, state: inactive}",
            "{state: inactive, image: vllm/vllm-openai:v0.7.0}",
        ),
    ],
)
def test_data_equal_only_in_python_is_not_taken(folder: Path, old: str, new: str) -> None:
    base_text = STACK.replace(
        "{hf_model: org/alpha}", "{hf_model: org/alpha, tensor_parallel_size: 1}"
    )
    assert old in base_text
    base, head = pair(folder, base_text, base_text.replace(old, new))
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"bravo", "charlie"}


def test_models_under_a_merge_key_are_resolved_anew(folder: Path) -> None:
    # Around a `<<` merge key, the keys of a merged mapping that the mapping overrides are
    # located too: charlie's `v1` has no `state`, but `state` is located under it while the
    # anchored `v1` has one. Such a model is resolved anew, whatever its data.
    base_text = STACK.replace(
        "    deployments:\n      v1: {}\n", "    deployments: &deps\n      v1: {state: active}\n"
    ).replace(
        "    deployments: {v1: {}}\n    environments:\n      production: {deployment: v1}\n",
        "    deployments: {<<: *deps, v1: {}}\n",
    )
    head_text = base_text.replace("v1: {state: active}", "v1: {}")
    base, head = pair(folder, base_text, head_text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"bravo"}
    assert reused.models["charlie"].deployments["v1"].origins.written.get(("state",)) is None
    assert base.models["charlie"].deployments["v1"].origins.written.get(("state",)) is not None


# --- problems are the head's, located in the head -----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("min_replicas: 1, max_replicas: 4", "min_replicas: 5, max_replicas: 4", "is above"),
        ("v2: {image:", "v2: {imag:", "unknown key 'imag'"),
        (
            "production: {deployment: v1, autoscaling",
            "production: {deployment: v3, autoscaling",
            "no deployment 'v3'",
        ),
        ("template: tei", "template: teii", "no template 'teii'"),
    ],
)
def test_a_head_with_an_error_reports_it_as_alone(
    folder: Path, old: str, new: str, message: str
) -> None:
    base, head = pair(folder, STACK, "# an extra line\n" + STACK.replace(old, new, 1))
    assert_same_head(head, base)
    stack, reported = checked(head, base)
    assert stack is None
    assert message in reported
    assert f"{head}:" in reported


def test_an_error_in_an_unchanged_model_is_located_in_the_head(folder: Path) -> None:
    base_text = STACK.replace(
        "    image: registry.example.com/charlie:1\n",
        "    image: registry.example.com/charlie:1\n    previous_names: [echo]\n",
    )
    new = "  echo:\n    image: registry.example.com/echo:1\n    deployments: {v1: {}}\n"
    head_text = base_text.replace("models:\n", "models:\n" + new)
    base, head = pair(folder, base_text, head_text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    _, reported = checked(head, base)
    line = line_of(head_text, "previous_names")
    assert line == line_of(base_text, "previous_names") + 3
    assert f"{head}:{line}:22: error: models.charlie.previous_names[0]: 'echo' is the" in reported


def test_a_duplicate_key_in_an_unchanged_model_is_reported(folder: Path) -> None:
    head_text = STACK.replace("    template: tei\n", "    template: tei\n    template: tei\n")
    base, head = pair(folder, STACK, head_text)
    reused = assert_same_head(head, base)
    assert taken(reused, base) == {"alpha", "bravo", "charlie"}
    _, reported = checked(head, base)
    assert "duplicate key 'template'" in reported


def test_a_base_that_reported_problems_lends_no_resolved_model(folder: Path) -> None:
    # bravo's development deployment pins a replica count: an error, but bravo still resolves.
    broken = STACK.replace(
        "kind: development}", "kind: development, autoscaling: {min_replicas: 1}}"
    )
    base, problems = loaded(write(folder / "base.yaml", broken))
    assert len(problems) == 1
    assert "a development deployment always runs 0 to 1" in problems[0]
    assert "bravo" in base.models
    head = write(folder / "head.yaml", "# an extra line\n" + broken)
    assert taken(assert_same_head(head, base), base) == set()
    assert taken(assert_same_head(write(folder / "fixed.yaml", STACK), base), base) == set()


def test_a_head_that_cannot_be_read(folder: Path) -> None:
    base, _ = pair(folder, STACK, STACK)
    for text in ("models: [", "- a list\n"):
        head = write(folder / "head.yaml", text)
        assert checked(head, base) == checked(head)
        assert checked(head)[0] is None
    assert checked(folder / "missing.yaml", base) == checked(folder / "missing.yaml")


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_an_invalid_stack_loaded_against_itself_reports_the_same(case: Path) -> None:
    diagnostics = Diagnostics()
    base = load_stack(str(case / "stack.yaml"), diagnostics)
    alone = Diagnostics()
    reused = Diagnostics()
    assert load_stack(str(case / "stack.yaml"), reused, base) == load_stack(
        str(case / "stack.yaml"), alone
    )
    assert [str(d) for d in reused.items] == [str(d) for d in alone.items]
    assert [str(d) for d in alone.items] == [str(d) for d in diagnostics.items]


# --- what may be handed as `reuse` -----------------------------------------------------------


def test_a_stack_derived_from_a_load_lends_what_that_load_made(folder: Path) -> None:
    base, head = pair(folder, STACK, STACK)
    emptied = dataclasses.replace(base, models={})  # as a rollout stage derives stacks
    assert taken(assert_same_head(head, emptied), base) == {"alpha", "bravo", "charlie"}


def test_a_stack_no_load_made_lends_nothing(folder: Path) -> None:
    base, head = pair(folder, STACK, STACK)
    made = dataclasses.replace(base, spec=base.spec.model_copy())
    assert taken(assert_same_head(head, made), base) == set()


def test_a_taken_model_copies_every_field() -> None:
    # iac.load.rebase builds these anew with their Writtens moved: a new field must be
    # copied there too.
    assert [f.name for f in dataclasses.fields(ResolvedModel)] == [
        "name",
        "template",
        "deployments",
        "environments",
        "origins",
    ]
    assert [f.name for f in dataclasses.fields(ResolvedDeployment)] == [
        "model",
        "name",
        "state",
        "kind",
        "container",
        "autoscaling",
        "copied_from",
        "origins",
    ]
    assert [f.name for f in dataclasses.fields(ResolvedEnvironment)] == [
        "model",
        "name",
        "traffic",
        "autoscaling",
        "promotion",
        "origins",
    ]


def test_a_model_with_a_setting_in_an_unmapped_file_is_not_moved(folder: Path) -> None:
    base, _ = pair(folder, STACK, STACK)
    alpha = base.models["alpha"]  # its template's settings are in vllm.yaml
    assert rebase(alpha, {id(base.source): base.source}) is None
    template = alpha.deployments["v1"].origins.find(("image",)).source
    files = {id(base.source): base.source, id(template): template}
    assert rebase(alpha, files) == alpha
