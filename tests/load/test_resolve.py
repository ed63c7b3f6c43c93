"""The loader's merging: defaults → template → model → (copied) deployment, and environments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from iac.diagnostics import Diagnostics, Location
from iac.errors import StackInvalid
from iac.spec.resolved import ResolvedStack
from iac.validate import check_stack

MODULE = """\
version: 1
templates:
  server:
    params:
      model_id: {description: which model}
      batch: {default: 8}
    image: example/server:1.0
    args: ["--model=${model_id}", "--batch=${batch}"]
    env: {A: from-template, B: from-template}
    health: {path: /ready, startup_timeout: 20m}
    resources: {accelerator: L4, cpu: "4"}
    autoscaling: {concurrency_target: 16, max_replicas: 3}
"""


def load(tmp_path: Path, stack: str) -> ResolvedStack:
    (tmp_path / "modules").mkdir(exist_ok=True)
    (tmp_path / "modules" / "server.yaml").write_text(MODULE)
    path = tmp_path / "stack.yaml"
    path.write_text(textwrap.dedent(stack))
    return check_stack(str(path))


def test_levels_merge_in_order_and_mappings_merge_by_key(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """\
        version: 1
        imports: [modules/server.yaml]
        cluster: {name: c}
        defaults:
          env: {A: from-defaults, C: from-defaults}
          autoscaling: {scale_down_delay: 5m, max_replicas: 9}
        models:
          m:
            template: server
            params: {model_id: org/model}
            env: {B: from-model}
            resources: {memory: 32Gi}
            deployments:
              v1: {}
              v2: {env: {A: from-deployment}, args: [--other], autoscaling: {min_replicas: 1}}
        auth: {public: true}
        """,
    )
    v1 = stack.models["m"].deployments["v1"]
    assert v1.container.image == "example/server:1.0"
    assert v1.container.args == ["--model=org/model", "--batch=8"]
    assert v1.container.env == {"A": "from-template", "B": "from-model", "C": "from-defaults"}
    assert v1.container.resources is not None
    assert v1.container.resources.model_dump(exclude_none=True) == {
        "accelerator": "L4",
        "cpu": "4",
        "memory": "32Gi",
    }
    assert v1.container.health is not None
    assert v1.container.health.path == "/ready"
    assert v1.container.health.startup_timeout == 1200
    assert v1.container.port == 8000
    assert v1.autoscaling.scale_down_delay == 300
    assert v1.autoscaling.max_replicas == 3  # the template is more specific than defaults
    assert v1.autoscaling.concurrency_target == 16
    v2 = stack.models["m"].deployments["v2"]
    assert v2.container.env == {"A": "from-deployment", "B": "from-model", "C": "from-defaults"}
    assert v2.container.args == ["--other"]  # lists are replaced whole
    assert v2.autoscaling.min_replicas == 1
    # Each merged setting remembers where it was written.
    where = v2.origins(("env", "A"))
    assert (where.file, where.line) == (str(tmp_path / "stack.yaml"), 15)
    assert v2.origins.path(("env", "A")) == ("models", "m", "deployments", "v2", "env", "A")
    template_where = v1.origins(("health", "path"))
    assert template_where.file.endswith("modules/server.yaml")
    assert template_where.line == 10


def test_environment_scaling_layers_over_the_model_not_the_deployment(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: x/y:1
            autoscaling: {concurrency_target: 4, max_replicas: 2}
            deployments:
              v1: {autoscaling: {max_replicas: 5}}
            environments:
              production:
                deployment: v1
                autoscaling: {min_replicas: 1}
        auth: {public: true}
        """,
    )
    env = stack.models["m"].environments["production"]
    assert env.traffic == (("v1", 100),)
    assert env.autoscaling.min_replicas == 1
    assert env.autoscaling.max_replicas == 2
    assert env.autoscaling.concurrency_target == 4
    assert env.promotion.strategy == "immediate"
    assert stack.models["m"].deployments["v1"].autoscaling.max_replicas == 5


def test_from_copies_container_fields_and_chains(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: x/y:1
            deployments:
              v1: {image: x/y:2, env: {K: v}, state: inactive}
              v1-copy: {from: v1}
              v1-copy2: {from: v1-copy, env: {L: w}}
        auth: {public: true}
        """,
    )
    deployments = stack.models["m"].deployments
    assert deployments["v1-copy"].container.image == "x/y:2"
    assert deployments["v1-copy"].state == "active"  # state is the copy's own
    assert deployments["v1-copy"].copied_from == "v1"
    assert deployments["v1-copy2"].container.env == {"K": "v", "L": "w"}


def test_development_deployments_are_pinned_to_zero_or_one(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: x/y:1
            autoscaling: {min_replicas: 2, max_replicas: 4}
            deployments:
              v1: {}
              dev: {kind: development}
        auth: {public: true}
        """,
    )
    dev = stack.models["m"].deployments["dev"].autoscaling
    assert (dev.min_replicas, dev.max_replicas) == (0, 1)


def test_traffic_split_keeps_written_order(tmp_path: Path) -> None:
    stack = load(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: x/y:1
            deployments: {v3: {}, v4: {}}
            environments:
              production: {traffic: {v4: 10, v3: 90}}
        auth: {public: true}
        """,
    )
    env = stack.models["m"].environments["production"]
    assert env.traffic == (("v4", 10), ("v3", 90))
    assert env.deployments == ("v4", "v3")


def test_a_model_setting_inherited_twice_is_reported_once(tmp_path: Path) -> None:
    with pytest.raises(StackInvalid) as info:
        load(
            tmp_path,
            """\
            version: 1
            cluster: {name: c}
            models:
              m:
                image: x/y:1
                autoscaling: {min_replicas: 3}
                deployments: {v1: {}, v2: {}}
                environments:
                  production: {deployment: v1}
            auth: {public: true}
            """,
        )
    messages = [str(d) for d in info.value.diagnostics]
    assert messages == [
        f"{tmp_path / 'stack.yaml'}:6:33: error: models.m.autoscaling.min_replicas: "
        "min_replicas (3) is above max_replicas (1); raise max_replicas or lower min_replicas"
    ]


def test_a_folder_means_its_stack_yaml(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\ncluster: {name: c}\n")
    stack = check_stack(str(tmp_path))
    assert stack.file == str(tmp_path / "stack.yaml")
    assert stack.models == {}


def test_errors_collect_across_models(tmp_path: Path) -> None:
    diagnostics = Diagnostics()
    (tmp_path / "stack.yaml").write_text(
        "version: 1\ncluster: {name: c}\nmodels:\n"
        "  a: {deployments: {v1: {}}}\n"
        "  b: {image: x, deployments: {v1: {}}, environments: {p: {deployment: v2}}}\n"
        "auth: {public: true}\n"
    )
    with pytest.raises(StackInvalid):
        check_stack(str(tmp_path / "stack.yaml"), diagnostics)
    assert [d.location for d in diagnostics.sorted()] == [
        Location(str(tmp_path / "stack.yaml"), 4, 21),
        Location(str(tmp_path / "stack.yaml"), 5, 71),
    ]


def test_too_many_models_fail_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iac.load import stack_loader

    monkeypatch.setattr(stack_loader, "MAX_MODELS", 2)
    models = "".join(f"  m{i}: {{image: x, deployments: {{v1: {{}}}}}}\n" for i in range(3))
    (tmp_path / "stack.yaml").write_text("version: 1\ncluster: {name: c}\nmodels:\n" + models)
    with pytest.raises(StackInvalid) as info:
        check_stack(str(tmp_path / "stack.yaml"))
    assert [d.message for d in info.value.diagnostics] == [
        "3 models, over the limit of 2 for one stack; split the stack into several files (one "
        "per team or cluster)"
    ]


def test_a_mapping_written_empty_sets_nothing(tmp_path: Path) -> None:
    """`resources:` or `autoscaling:` with nothing under it (null) leave what the levels
    below set; it once dropped the deployment's GPUs, and crashed on `autoscaling:`."""
    stack = load(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: org/m:1
            resources: {accelerator: H100, cpu: "4", memory: 16Gi}
            autoscaling: {max_replicas: 5}
            env:
            deployments:
              v1:
                resources:
                autoscaling:
                health:
        auth: {public: true}
        """,
    )
    deployment = stack.models["m"].deployments["v1"]
    resources = deployment.container.resources
    assert resources is not None
    assert (resources.accelerator, resources.cpu) == ("H100", "4")
    assert deployment.autoscaling.max_replicas == 5
