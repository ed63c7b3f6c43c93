"""`compile_release(reuse=...)`: a head compiled with the base's per-model objects is the same,
byte for byte and warning for warning, as the head compiled in full (what `iac plan` does)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.diff.objects import diff_objects
from iac.render.text import render
from iac.validate import check_stack
from tests.support.stacks import compiled_stack

CLUSTER = {
    "karpenter": "cluster: {name: c, provisioner: karpenter, domain: models.example.com}",
    "gke": "cluster: {name: c, provisioner: gke, domain: models.example.com,\n"
    "          gke: {cluster: serving, location: us-central1, project: p}}",
}

MODELS = {
    "alpha": """\
  alpha:
    template: vllm
    params: {hf_model: org/alpha}
    resources: {accelerator: H100, node_pool: shared, cpu: "8", memory: 64Gi}
    deployments:
      v1: {}
      v2: {image: vllm/vllm-openai:v0.6.0}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 4}}
""",
    "bravo": """\
  bravo:
    template: vllm
    params: {hf_model: org/bravo}
    resources: {accelerator: H100, node_pool: shared, cpu: "8", memory: 64Gi}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 2, max_replicas: 4}}
""",
    "charlie": """\
  charlie:
    template: tei
    params: {hf_model: BAAI/bge-large-en-v1.5}
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 0, max_replicas: 2}}
""",
    # Unchanged in every head, and warned about: the warning must name the head's file.
    "delta": """\
  delta:
    template: vllm
    params: {hf_model: org/delta}
    resources: {accelerator: H100, node_pool: shared, cpu: "8", memory: 64Gi}
    deployments: {v1: {autoscaling: {scale_down_delay: 1h}}}
""",
    "echo": """\
  echo:
    template: vllm
    params: {hf_model: org/echo}
    resources: {accelerator: "L4:2", cpu: "8", memory: 32Gi}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1}
""",
    "foxtrot": """\
  foxtrot:
    image: registry.example.com/foxtrot:1
    deployments: {v1: {}}
""",
}


def stack_text(provisioner: str, models: dict[str, str], pool_labels: str = "{team: a}") -> str:
    return "\n".join(
        [
            "version: 1",
            "imports: [MODULES/vllm.yaml, MODULES/tei.yaml]",
            # Prepending comments moves every line: the base's and head's locations differ.
            CLUSTER[provisioner],
            "node_pools:",
            f"  shared: {{accelerator: H100, labels: {pool_labels}}}",
            "models:",
            *models.values(),
            "auth: {public: true}",
        ]
    )


def heads(provisioner: str) -> dict[str, str]:
    base = {k: v for k, v in MODELS.items() if k != "foxtrot"}
    image = dict(base, alpha=base["alpha"].replace("v0.6.0", "v0.6.1"))
    # More replicas for bravo: the shared pool's demand changes, alpha's and delta's
    # objects do not (they take only the pool's labels).
    scaling = dict(base, bravo=base["bravo"].replace("max_replicas: 4", "max_replicas: 8"))
    added_removed = {k: v for k, v in MODELS.items() if k != "echo"}
    zero = dict(base, alpha=base["alpha"].replace("min_replicas: 1", "min_replicas: 0"))
    return {
        "unchanged": "# moved\n# down\n" + stack_text(provisioner, base),
        "image": "# moved\n" + stack_text(provisioner, image),
        "autoscaling": stack_text(provisioner, scaling),
        "added-removed": "#\n#\n#\n" + stack_text(provisioner, added_removed),
        "scale-to-zero": stack_text(provisioner, zero),
        "pool-labels": stack_text(provisioner, base, pool_labels="{team: b}"),
        "all": stack_text(
            provisioner,
            dict(added_removed, alpha=image["alpha"], bravo=scaling["bravo"]),
            pool_labels="{team: b, tier: x}",
        ),
    }


@pytest.mark.parametrize("provisioner", ["karpenter", "gke"])
@pytest.mark.parametrize("change", list(heads("karpenter")))
def test_reuse_gives_the_full_compile(tmp_path: Path, provisioner: str, change: str) -> None:
    base_models = {k: v for k, v in MODELS.items() if k != "foxtrot"}
    base = compiled_stack(
        tmp_path, stack_text(provisioner, base_models), "base.yaml", Diagnostics()
    )
    text = heads(provisioner)[change]
    full_warnings, reuse_warnings = Diagnostics(), Diagnostics()
    full = compiled_stack(tmp_path, text, "head.yaml", full_warnings)
    path = tmp_path / "head.yaml"
    reused = compile_stack(check_stack(str(path), reuse_warnings), reuse_warnings, reuse=base)

    assert render(reused.objects) == render(full.objects)  # byte for byte, in apply order
    assert reused.objects == full.objects
    assert reused.options == full.options
    assert reused.cloud == full.cloud
    assert reused.model_aliases == full.model_aliases
    assert list(reuse_warnings) == list(full_warnings)  # the head's file, the head's lines
    assert any("scale_down_delay" in d.message for d in full_warnings)
    assert diff_objects(base.objects, reused.objects) == diff_objects(base.objects, full.objects)

    shared = {
        name
        for name, found in reused.models.items()
        if name in base.models and found is base.models[name]
    }
    expected = {
        "unchanged": set(base_models),
        "image": set(base_models) - {"alpha"},
        "autoscaling": set(base_models) - {"bravo"},
        "added-removed": set(base_models) - {"echo"},
        "scale-to-zero": set(base_models) - {"alpha"},
        # Every model on the pool selects its labels; the others are untouched.
        "pool-labels": {"charlie", "echo"},
        "all": {"charlie"},
    }[change]
    assert shared == expected
    reused_ids = {id(o) for name in shared for o in base.models[name].serving}
    assert reused_ids <= {id(o) for o in reused.objects}


def test_a_changed_cluster_reuses_nothing(tmp_path: Path) -> None:
    models = {k: v for k, v in MODELS.items() if k != "foxtrot"}
    base = compiled_stack(tmp_path, stack_text("karpenter", models), "base.yaml", Diagnostics())
    text = stack_text("karpenter", models).replace("domain: models.example.com", "domain: x.io")
    full = compiled_stack(tmp_path, text, "head.yaml", Diagnostics())
    reused = compile_stack(check_stack(str(tmp_path / "head.yaml")), reuse=base)
    assert render(reused.objects) == render(full.objects)
    assert not any(found is base.models.get(name) for name, found in reused.models.items())


def test_reuse_is_explicit(tmp_path: Path) -> None:
    """Without `reuse`, two compiles of one stack share no object."""
    text = textwrap.dedent(stack_text("karpenter", MODELS))
    first = compiled_stack(tmp_path, text, "a.yaml", Diagnostics())
    second = compiled_stack(tmp_path, text, "b.yaml", Diagnostics())
    assert first.objects == second.objects
    assert not {id(o) for o in first.objects} & {id(o) for o in second.objects}
