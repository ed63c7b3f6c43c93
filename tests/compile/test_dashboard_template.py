"""A dashboard taken from its shape's template (`templated_text`) is byte for byte the one
built for the model (`render(dashboard(...))`); a model whose names cannot be proven to fill
the template exactly gets no templated text, and the compile writes the built one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import large_stack
from iac.compile import Compiled, compile_stack
from iac.compile.monitoring.dashboards import name_template, render
from iac.compile.monitoring.model_dashboard import dashboard, templated_text
from iac.validate import check_stack
from tests.support.stacks import ROOT, compiled_stack

STACKS = [*sorted(ROOT.glob("examples/*/stack.yaml")), *sorted(ROOT.glob("stacks/*.yaml"))]


def _model(name: str, body: str = "template: vllm\n    params: {hf_model: org/m}") -> str:
    return f"""\
  "{name}":
    {body}
    deployments: {{v1: {{}}, v2: {{}}}}
    environments: {{production: {{deployment: v1}}}}
"""


def _stack(models: str, cluster: str = "c1", namespace: str = "serving") -> str:
    head = "version: 1\nimports: [MODULES/vllm.yaml, MODULES/tei.yaml]\n"
    head += f"cluster: {{name: {cluster}, namespace: {namespace}}}\nmodels:\n"
    return head + models.rstrip("\n") + "\nauth: {public: true}\n"


def _dashboard_texts(compiled: Compiled) -> dict[str, str]:
    """The JSON text of each model's dashboard ConfigMap, by model (a chain's dashboard is
    not templated: tests/compile/test_chain_dashboard.py)."""
    texts: dict[str, str] = {}
    for obj in compiled.objects:
        found = obj["metadata"].get("labels", {})
        if obj["kind"] == "ConfigMap" and "grafana_dashboard" in found and "iac.dev/model" in found:
            ((key, text),) = obj["data"].items()
            texts[key.removesuffix(".json")] = text
    return texts


def _check(compiled: Compiled, not_templated: frozenset[str] = frozenset()) -> None:
    """Every model's dashboard in the compile is the one built for it, and the templated
    text is that same text, except for the models in `not_templated`, which have none."""
    cluster = compiled.release.cluster
    texts = _dashboard_texts(compiled)
    models = compiled.release.models.values()
    assert texts or all(m.chain for m in models), "no dashboards compiled"  # chains: none
    assert not_templated <= set(texts)
    for name, text in texts.items():
        model = compiled.release.models[name]
        built = render(dashboard(model, cluster.name, cluster.namespace))
        assert text == built, name
        templated = templated_text(model, cluster.name, cluster.namespace)
        if name in not_templated:
            assert templated is None, name
        else:
            assert templated == built, name


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.parent.name + "/" + p.name)
def test_examples_and_stacks_are_templated_exactly(path: Path) -> None:
    _check(compile_stack(check_stack(str(path))))


@pytest.mark.parametrize(
    ("models", "deployments", "environments"), [(60, 3, 2), (25, 5, 5), (12, 1, 1)]
)
def test_a_generated_stack_is_templated_exactly(
    tmp_path: Path, models: int, deployments: int, environments: int
) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(large_stack(models, deployments, environments))
    compiled = compile_stack(check_stack(str(path)))
    assert len(_dashboard_texts(compiled)) == models
    _check(compiled)


# Names that are also words, parts of durations and label values of the dashboard's own
# text: only the places where the name went may change. (A model name cannot start with a
# digit: its Services' names must start with a letter.)
SUBSTRINGS = (
    "v1",
    "v2",
    "model",
    "models",
    "sum",
    "rate",
    "environment",
    "deployment",
    "namespace",
    "production",
    "replicaset",
    "iac",
    "c1",
    "a",
    "e",
    "s",
    "h",  # in durations: `now-6h`
    "m",  # `5m`
    "now",
    "all",
    "prometheus",
    "dashboard",
)


def test_names_that_are_substrings_of_the_dashboard_are_templated_exactly(
    tmp_path: Path,
) -> None:
    compiled = compiled_stack(tmp_path, _stack("".join(_model(name) for name in SUBSTRINGS)))
    _check(compiled)
    # Replacing every occurrence of the name would be wrong: the names are in other text.
    texts = _dashboard_texts(compiled)
    assert texts["e"].replace("e", "a") != texts["a"]
    assert texts["v1"].replace("v1", "sum") != texts["sum"]


def test_a_cluster_and_namespace_named_like_models_are_templated_exactly(
    tmp_path: Path,
) -> None:
    text = _stack("".join(_model(n) for n in ("iac", "models", "m")), "iac", "models")
    _check(compiled_stack(tmp_path, text))


# "iac-c1-" and a name of 33 characters make a uid of exactly 40: not cut.
UID_FITS = "u" * 33
UID_CUT = "u" * 34
# A name of 30 characters and a deployment of 24 make a workload name of 55: cut at 54.
WORKLOAD_CUT = "w" * 30
BOTH_CUT = "b" * 60


def test_names_cut_with_a_hash_are_not_templated(tmp_path: Path) -> None:
    long_deployment = "d" * 24
    workload_cut = f"""\
  {WORKLOAD_CUT}:
    template: vllm
    params: {{hf_model: org/m}}
    deployments: {{v1: {{}}, {long_deployment}: {{}}}}
    environments: {{production: {{deployment: v1}}}}
"""
    # A short name of each shape too, so each shape has a template the long names miss.
    short_long_deployment = workload_cut.replace(WORKLOAD_CUT, "w")
    models = [_model(n) for n in (UID_FITS, UID_CUT, BOTH_CUT, "short")]
    compiled = compiled_stack(
        tmp_path, _stack("".join(models) + workload_cut + short_long_deployment)
    )
    model = compiled.release.models[WORKLOAD_CUT]
    assert model.deployments[long_deployment].object_name != f"{WORKLOAD_CUT}-{long_deployment}"
    board = json.loads(_dashboard_texts(compiled)[UID_CUT])
    assert len(board["uid"]) == 40
    assert not board["uid"].endswith(UID_CUT)
    assert json.loads(_dashboard_texts(compiled)[UID_FITS])["uid"] == f"iac-c1-{UID_FITS}"
    _check(compiled, not_templated=frozenset({UID_CUT, WORKLOAD_CUT, BOTH_CUT}))


def test_models_of_different_shapes_are_templated_exactly(tmp_path: Path) -> None:
    """Environments, deployments, inactive ones, servers, metric groups (a server it does
    not know, none at all, two servers whose latency histograms differ): each with two names,
    so the second fills a template the first made."""
    bodies = {
        "two-envs": """\
    template: vllm
    params: {hf_model: org/m}
    deployments: {v1: {}, v2: {}, v3: {state: inactive}}
    environments: {production: {deployment: v1}, staging: {deployment: v2}}
""",
        "embeddings": """\
    template: tei
    params: {hf_model: BAAI/bge-large-en-v1.5}
    deployments: {v1: {}, v2: {}}
    environments: {production: {deployment: v1}, eval: {deployment: v2}}
""",
        "unknown-server": """\
    image: ghcr.io/example/asr:1.0
    metrics: {path: /stats, in_flight: [asr_active_streams]}
    deployments: {v1: {}}
    environments: {production: {deployment: v1}}
""",
        "no-metrics": """\
    image: ghcr.io/example/whisper:1.0
    deployments: {v1: {}}
    environments: {production: {deployment: v1}}
""",
        "two-servers": """\
    template: vllm
    params: {hf_model: org/m}
    deployments: {v1: {}, v2: {metrics: {in_flight: [te_queue_size]}}}
    environments: {production: {deployment: v1}}
""",
        "two-deployments": """\
    template: vllm
    params: {hf_model: org/m}
    deployments: {v1: {}, v2: {}}
    environments: {production: {deployment: v1}}
""",
        "other-deployments": """\
    template: vllm
    params: {hf_model: org/m}
    deployments: {v1: {}, v3: {}, v4: {state: inactive}}
    environments: {production: {deployment: v1}}
""",
        "no-environment": """\
    template: vllm
    params: {hf_model: org/m}
    deployments: {v1: {}}
""",
    }
    models = "".join(
        f"  {name}{copy}:\n{body}" for name, body in bodies.items() for copy in ("", "-copy")
    )
    compiled = compiled_stack(tmp_path, _stack(models))
    texts = _dashboard_texts(compiled)
    assert len(texts) == 2 * len(bodies)
    panels = {name: len(json.loads(text)["panels"]) for name, text in texts.items()}
    assert len({panels[name] for name in bodies}) >= 3
    _check(compiled)


def test_a_template_from_one_stack_does_not_leak_into_another(tmp_path: Path) -> None:
    """The same model name in two stacks of different shapes: each gets its own text."""
    first = compiled_stack(tmp_path, _stack(_model("llm")))
    _check(first)
    tei = "template: tei\n    params: {hf_model: BAAI/bge-large-en-v1.5}"
    second = compiled_stack(tmp_path, _stack(_model("llm", tei)))
    _check(second)
    third = compiled_stack(tmp_path, _stack(_model("llm")).replace("serving", "other"))
    _check(third)
    texts = [_dashboard_texts(c)["llm"] for c in (first, second, third)]
    assert len(set(texts)) == 3


# --- name_template on its own -----------------------------------------------------------------


def _board_for(name: str, extra: str = "") -> dict[str, Any]:
    return {
        "title": f"{name} (c1)",
        "tags": ["iac", name],
        "panels": [{"expr": f'sum(x{{model="{name}"}})', "note": extra}],
    }


@pytest.mark.parametrize("name", ["llm", "a", 'say "hi"', "back\\slash", "é", "tab\there", ""])
def test_a_template_fills_as_the_board_renders(name: str) -> None:
    template = name_template(_board_for)
    assert template is not None
    assert template.fill(name) == render(_board_for(name))


@pytest.mark.parametrize("extra", ["\x00", "\x01", "\\u0000", "\\u0001", "x\x00\x01y"])
def test_a_stand_in_in_other_text_gives_no_template(extra: str) -> None:
    assert name_template(lambda name: _board_for(name, extra)) is None


def test_a_board_without_the_name_is_its_own_template() -> None:
    template = name_template(lambda name: {"title": "fixed"})
    assert template is not None
    assert template.fill("anything") == render({"title": "fixed"})
