"""Smoke test: a real `pulumi up` of a Python program using pulumi_kubernetes.

The program renders a ConfigMap to YAML through a Kubernetes provider with
``render_yaml_to_directory`` (no cluster needed), so this exercises the whole
chain: CLI -> Python language host -> this interpreter's pulumi SDK ->
Kubernetes provider plugin -> state in a local backend.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml  # PyYAML: a dependency of the pulumi SDK

if TYPE_CHECKING:
    from conftest import PulumiEngine

PROJECT = "iac-engine-smoke"
STACK = "smoke"
CONFIGMAP_NAME = "smoke-config"
CONFIGMAP_DATA = {"model": "tiny-llm", "replicas": "2"}

PULUMI_YAML = f"""\
name: {PROJECT}
description: e2e smoke test of the Pulumi engine (tests/e2e/test_engine_smoke.py)
runtime: python
"""

PROGRAM = textwrap.dedent(
    f"""\
    import pulumi
    import pulumi_kubernetes as k8s

    config = pulumi.Config()
    provider = k8s.Provider(
        "render",
        render_yaml_to_directory=config.require("renderDir"),
    )
    configmap = k8s.core.v1.ConfigMap(
        "smoke",
        metadata={{"name": {CONFIGMAP_NAME!r}, "namespace": "default"}},
        data={CONFIGMAP_DATA!r},
        opts=pulumi.ResourceOptions(provider=provider),
    )
    pulumi.export("configmap_name", configmap.metadata.name)
    pulumi.export("configmap_data", configmap.data)
    pulumi.export("sdk_kubernetes_version", k8s._utilities.get_version())
    """
)


def _rendered_manifests(render_dir: Path) -> list[Path]:
    return sorted(render_dir.rglob("*.yaml"))


@pytest.mark.e2e
def test_up_renders_configmap_and_is_idempotent(
    pulumi_engine: PulumiEngine, tmp_path: Path
) -> None:
    project_dir = tmp_path / "project"
    render_dir = tmp_path / "rendered"
    project_dir.mkdir()
    (project_dir / "Pulumi.yaml").write_text(PULUMI_YAML)
    (project_dir / "__main__.py").write_text(PROGRAM)

    run = pulumi_engine.run
    run("stack", "init", STACK, cwd=project_dir)
    run("config", "set", "renderDir", str(render_dir), cwd=project_dir)

    up = run("up", "--yes", "--skip-preview", cwd=project_dir)
    assert "kubernetes:core/v1:ConfigMap" in up.stdout, up.stdout

    # The provider wrote exactly one manifest: our ConfigMap, with our data.
    manifests = _rendered_manifests(render_dir)
    assert len(manifests) == 1, manifests
    assert manifests[0].parent.name == "1-manifest"  # 0-crd/ would hold CRDs
    doc = yaml.safe_load(manifests[0].read_text())
    assert doc["apiVersion"] == "v1"
    assert doc["kind"] == "ConfigMap"
    assert doc["metadata"]["name"] == CONFIGMAP_NAME
    assert doc["metadata"]["namespace"] == "default"
    assert doc["data"] == CONFIGMAP_DATA

    outputs = json.loads(run("stack", "output", "--json", cwd=project_dir).stdout)
    assert outputs["configmap_name"] == CONFIGMAP_NAME
    assert outputs["configmap_data"] == CONFIGMAP_DATA
    # The program ran on the test interpreter's pulumi_kubernetes SDK.
    import pulumi_kubernetes

    assert outputs["sdk_kubernetes_version"] == pulumi_kubernetes._utilities.get_version()

    # The state records the provider and the ConfigMap it manages.
    state = json.loads(run("stack", "export", cwd=project_dir).stdout)
    resources = state["deployment"]["resources"]
    by_type = {r["type"]: r for r in resources}
    assert "pulumi:providers:kubernetes" in by_type, sorted(by_type)
    configmap = by_type["kubernetes:core/v1:ConfigMap"]
    assert configmap["provider"].startswith(by_type["pulumi:providers:kubernetes"]["urn"])
    assert configmap["outputs"]["data"] == CONFIGMAP_DATA

    # Nothing changed, so a preview must report no changes (non-zero exit otherwise).
    run("preview", "--expect-no-changes", cwd=project_dir)

    # Destroy removes the rendered manifest again.
    run("destroy", "--yes", "--skip-preview", cwd=project_dir)
    assert _rendered_manifests(render_dir) == []
    run("stack", "rm", "--yes", STACK, cwd=project_dir)
