"""The Pulumi program under mocks: what it registers is exactly what `iac render` prints.

Every example and the demo stack run through `iac.program.main()` with
`pulumi.runtime.set_mocks`; the registered Kubernetes resources are compared with the
objects of `iac render --format json`, and the options around them (parents, dependencies,
provider, timeouts) and the stack outputs are checked.

Normalization: none. Each object is registered with its own fields as inputs
(`iac.program.kinds.KubernetesObject`), so the inputs the mocks receive equal the rendered
objects as they are.
"""

from __future__ import annotations

import gc
import json
import math
import re
import runpy
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement as PipRequirement
from pulumi.runtime import rpc

import iac.program
from iac.cli import cli
from iac.cli.init import init_command
from iac.compile import compile_stack, object_id
from iac.diagnostics import Diagnostics
from iac.errors import IacError, StackInvalid
from iac.program import kinds, layout, project, settings
from iac.program.deploy import CLUSTER_TYPE, GC_YOUNG_THRESHOLD, MODEL_TYPE, Deployed, _duration
from iac.program.outputs import ENDPOINTS, OUTPUTS, RELEASE, stack_outputs
from iac.validate import check_stack
from tests.support.program_helpers import ProgramRun, Registration, run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted((ROOT / "examples").glob("*/stack.yaml")) + [ROOT / "stacks" / "demo.yaml"]
PROVIDER_TYPE = "pulumi:providers:kubernetes"


def _id(path: Path) -> str:
    return path.parent.name if path.name == "stack.yaml" else path.stem


def rendered(path: Path) -> list[dict[str, Any]]:
    """The objects exactly as `iac render` prints them."""
    result = CliRunner().invoke(cli, ["render", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


def type_token(obj: dict[str, Any]) -> str:
    """Pulumi's type for a Kubernetes object: `kubernetes:<group or core>/<version>:<kind>`."""
    api_version = obj["apiVersion"]
    return (
        f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{obj['kind']}"
    )


def expected_name(obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    parts = [obj["kind"], metadata.get("namespace"), metadata["name"]]
    return "/".join(p for p in parts if p)


def seconds(duration: str) -> int:
    total = 0
    for amount, unit in re.findall(r"(\d+)([hms])", duration):
        total += int(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


@pytest.fixture(scope="module", params=STACKS, ids=_id)
def example(request: pytest.FixtureRequest) -> tuple[Path, list[dict[str, Any]], ProgramRun]:
    path: Path = request.param
    return path, rendered(path), run_program(path)


def _registered(run: ProgramRun, obj: dict[str, Any]) -> Registration:
    return run.one(type_token(obj), expected_name(obj))


# --- registered inputs == rendered objects ------------------------------------------------


def test_registered_resources_are_exactly_the_rendered_objects(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    _, objects, run = example
    registered = {(r.type, r.name): r.inputs for r in run.kubernetes()}
    expected = {(type_token(o), expected_name(o)): o for o in objects}
    assert set(registered) == set(expected)
    for identity, obj in expected.items():
        assert registered[identity] == obj, identity


def test_every_urn_is_unique(example: tuple[Path, list[dict[str, Any]], ProgramRun]) -> None:
    # Mocks accept duplicate URNs silently; the real engine rejects them.
    _, _, run = example
    urns = [r.urn for r in run.registrations]
    assert len(urns) == len(set(urns))


def test_objects_are_children_of_their_model_or_the_cluster(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    path, objects, run = example
    stack = check_stack(str(path))
    cluster = run.one(CLUSTER_TYPE, stack.spec.cluster.name)
    models = {r.name: r for r in run.registrations if r.type == MODEL_TYPE}
    assert set(models) == set(stack.models)
    for obj in objects:
        model = obj["metadata"].get("labels", {}).get("iac.dev/model")
        parent = models[model] if model else cluster
        assert _registered(run, obj).parent == parent.urn, expected_name(obj)
    assert any(o["kind"] == "Namespace" for o in objects) == stack.spec.cluster.create_namespace


def test_one_provider_per_cluster_pinned_by_cluster_identifier(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    path, objects, run = example
    name = check_stack(str(path)).spec.cluster.name
    providers = [r for r in run.registrations if r.type == PROVIDER_TYPE]
    assert [(p.name, p.inputs) for p in providers] == [(name, {"clusterIdentifier": name})]
    for obj in objects:
        assert _registered(run, obj).provider.startswith(providers[0].urn + "::")


def waits_for(run: ProgramRun) -> dict[str, set[str]]:
    """Every URN's dependencies, transitively (the program registers only direct ones;
    Pulumi orders by the transitive graph)."""
    direct = {r.urn: set(r.dependencies) for r in run.registrations}
    closure: dict[str, set[str]] = {}

    def reach(urn: str) -> set[str]:
        if urn not in closure:
            closure[urn] = set()
            for dep in direct[urn]:
                closure[urn] |= {dep} | reach(dep)
        return closure[urn]

    return {urn: reach(urn) for urn in direct}


def test_scalers_wait_for_their_deployment_and_routes_for_their_backends(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    _, objects, run = example
    by_kind_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    after = waits_for(run)

    def urn(kind: str, name: str) -> str:
        return _registered(run, by_kind_name[(kind, name)]).urn

    for obj in objects:
        registered = _registered(run, obj)
        deps = after[registered.urn]
        name = obj["metadata"]["name"]
        if obj["kind"] == "ScaledObject":
            assert urn("Deployment", obj["spec"]["scaleTargetRef"]["name"]) in deps
        if obj["kind"] == "InterceptorRoute":
            target = obj["spec"]["target"]["service"]
            assert {urn("Service", target), urn("Deployment", target)} <= deps
        if obj["kind"] == "HTTPRoute":
            for rule in obj["spec"]["rules"]:
                for ref in rule["backendRefs"]:
                    if ("Service", ref["name"]) in by_kind_name:
                        # Routed directly: the Service itself is a direct dependency.
                        assert urn("Service", ref["name"]) in registered.dependencies
                        assert urn("Deployment", ref["name"]) in deps, (name, ref)
                for f in rule["filters"]:
                    if f["type"] == "RequestHeaderModifier":
                        # Through the interceptor: the route of the deployment it names.
                        backend = f["requestHeaderModifier"]["set"][0]["value"]
                        assert urn("InterceptorRoute", backend) in deps
                        assert urn("Service", backend) in deps
                        assert urn("Deployment", backend) in deps
        namespace = obj["metadata"].get("namespace")
        if ("Namespace", namespace) in by_kind_name:
            assert urn("Namespace", namespace) in deps
        # Dependencies are registered first, and none is implied by another one.
        for dep in registered.dependencies:
            assert dep in after
            others = set().union(*(after[d] for d in registered.dependencies if d != dep))
            assert dep not in others, (registered.name, dep)


def test_deployments_wait_longer_than_the_default_for_model_servers_and_services_not_at_all(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    _, objects, run = example
    for obj in objects:
        timeouts = _registered(run, obj).custom_timeouts
        if obj["kind"] in ("Deployment", "DaemonSet"):
            assert timeouts is not None
            pod = obj["spec"]["template"]["spec"]
            probe = pod["containers"][0].get("startupProbe")
            startup = probe["failureThreshold"] * probe["periodSeconds"] if probe else 0
            deadline = obj["spec"].get("progressDeadlineSeconds", 0)
            budget = max(startup + 600, deadline, 600)
            assert seconds(timeouts["create"]) == budget
            # One pod's budget, then a server start per further wave of the rolling update.
            assert (seconds(timeouts["update"]) - budget) % (budget - 600 or 1) == 0
            assert seconds(timeouts["update"]) >= budget
            assert timeouts["delete"] == ""
            if probe:  # a model server: longer than Pulumi's 10 minutes
                assert budget > 600
        elif obj["kind"] == "Service":
            # Not awaited (its Deployment is, for the pods it selects): no timeout to set.
            assert obj["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
            assert timeouts is None, expected_name(obj)
        else:
            assert timeouts is None, expected_name(obj)


def test_outputs_are_the_release_and_the_environment_endpoints(
    example: tuple[Path, list[dict[str, Any]], ProgramRun],
) -> None:
    path, _, run = example
    assert run.deployed is not None
    compiled = compile_stack(check_stack(str(path)))
    outputs = run.deployed.outputs
    assert tuple(outputs) == OUTPUTS == (RELEASE, ENDPOINTS)
    assert outputs == stack_outputs(compiled.release)
    assert outputs[RELEASE] == compiled.release.to_dict()
    json.dumps(outputs)  # JSON-able, as stack outputs must be
    # Exported under those names (the root stack's outputs are not sent to the mocks).
    assert {name: run.exports[name] for name in OUTPUTS} == outputs
    domain = compiled.release.cluster.domain
    # A chain is listed under its name (its entrypoint's endpoints), its other chainlets not.
    assert set(outputs[ENDPOINTS]) == {
        model.answers_as for model in compiled.release.models.values() if model.routed
    }
    for model, urls in outputs[ENDPOINTS].items():
        for env, url in urls.items():
            # Each model on its own host under the domain; without one, below /models/<model>.
            expected = (
                f"https://{model}.{domain}/environments/{env}/"
                if domain
                else f"/models/{model}/environments/{env}/"
            )
            assert url == expected


# --- outputs, settings, kinds: unit checks ------------------------------------------------


def test_endpoints_without_a_domain_are_paths_below_the_model(tmp_path: Path) -> None:
    source = (ROOT / "examples" / "01-single-model" / "stack.yaml").read_text()
    path = tmp_path / "stack.yaml"
    path.write_text(
        source.replace("  domain: models.example.com\n", "").replace(
            "../../modules/", str(ROOT / "modules") + "/"
        )
    )
    release = compile_stack(check_stack(str(path))).release
    assert stack_outputs(release)[ENDPOINTS] == {
        "llama-3-8b": {"production": "/models/llama-3-8b/environments/production/"}
    }


def test_stack_file_comes_from_config_then_env_then_the_stack_name(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    for name in ("dev.yaml", "a.yaml", "b.yaml"):
        (tmp_path / "stacks" / name).write_text("")
    env = {settings.STACK_ENV: "stacks/b.yaml"}
    assert settings.stack_file("stacks/a.yaml", env, "dev", tmp_path) == tmp_path / "stacks/a.yaml"
    assert settings.stack_file(None, env, "dev", tmp_path) == tmp_path / "stacks/b.yaml"
    assert settings.stack_file(None, {}, "dev", tmp_path) == tmp_path / "stacks/dev.yaml"
    absolute = tmp_path / "stacks" / "a.yaml"
    assert settings.stack_file(str(absolute), {}, "dev", Path("/")) == absolute
    with pytest.raises(settings.StackFileMissing, match=r"stacks/prod\.yaml: no such stack file"):
        settings.stack_file(None, {}, "prod", tmp_path)


def test_every_compiled_kind_has_a_type_token() -> None:
    for path in STACKS:
        for obj in compile_stack(check_stack(str(path))).objects:
            assert kinds.type_token(obj).startswith("kubernetes:")


def test_an_unknown_kind_is_a_clear_error() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(kinds.UnsupportedObject, match="no Pulumi resource for example"):
        kinds.type_token(obj)


@pytest.mark.parametrize(
    ("api_version", "kind", "token"),
    [
        ("v1", "Service", "kubernetes:core/v1:Service"),
        ("apps/v1", "Deployment", "kubernetes:apps/v1:Deployment"),
        ("keda.sh/v1alpha1", "ScaledObject", "kubernetes:keda.sh/v1alpha1:ScaledObject"),
    ],
)
def test_the_type_token_is_pulumi_kubernetes(api_version: str, kind: str, token: str) -> None:
    assert kinds.type_token({"apiVersion": api_version, "kind": kind}) == token


@pytest.mark.parametrize(
    ("seconds_", "text"),
    [(600, "10m"), (1210, "20m10s"), (3600, "1h"), (19200, "5h20m"), (45, "45s"), (0, "0s")],
)
def test_durations_are_go_durations(seconds_: int, text: str) -> None:
    assert _duration(seconds_) == text


# --- layout rules on hand-made objects ----------------------------------------------------


def _deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "s", "startupProbe": {"periodSeconds": 10, "failureThreshold": 90}}
                    ]
                },
            },
            **spec,
        },
    }


def test_rollout_timeout_counts_waves_of_surge() -> None:
    # Startup probe 900 s + a node 600 s = 1500 s per pod; later waves reuse freed nodes.
    one = _deployment("a", strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}})
    assert layout.deployment_timeouts(one, 5) == layout.Timeouts(create=1500, update=3300)
    recreate = _deployment("a", strategy={"type": "Recreate"})
    assert layout.deployment_timeouts(recreate, 5).update == 1500
    default = _deployment("a")  # Kubernetes' default: RollingUpdate with maxSurge 25 %
    assert layout.deployment_timeouts(default, 8).update == 1500 + 900 * (math.ceil(8 / 2) - 1)
    deadline = _deployment("a", progressDeadlineSeconds=2400)  # a longer deadline wins
    assert layout.deployment_timeouts(deadline, 1) == layout.Timeouts(create=2400, update=2400)


def test_layout_orders_dependencies_first_and_rejects_duplicates() -> None:
    scaler = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {"scaleTargetRef": {"name": "a"}, "maxReplicaCount": 3},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
    placements = layout.layout([scaler, _deployment("a"), namespace])
    assert [p.obj["kind"] for p in placements] == ["Namespace", "Deployment", "ScaledObject"]
    # The scaler waits for the Deployment, which waits for the Namespace: no direct edge.
    assert [p.depends_on for p in placements] == [(), (0,), (1,)]
    assert placements[1].timeouts == layout.Timeouts(create=1500, update=1500 + 2 * 900)
    with pytest.raises(layout.LayoutError, match="same Pulumi URN"):
        layout.layout([_deployment("a"), _deployment("a")])


def test_deployments_wait_for_the_node_pool_they_select() -> None:
    pool = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "h100"},
        "spec": {"template": {"metadata": {"labels": {"iac.dev/pool": "h100"}}}},
    }
    placed = _deployment("a")
    placed["spec"]["template"]["spec"]["nodeSelector"] = {"karpenter.sh/nodepool": "h100"}
    labelled = _deployment("b")
    labelled["spec"]["template"]["spec"]["nodeSelector"] = {"iac.dev/pool": "h100"}
    elsewhere = _deployment("c")
    elsewhere["spec"]["template"]["spec"]["nodeSelector"] = {"iac.dev/pool": "a100"}
    placements = layout.layout([pool, placed, labelled, elsewhere])
    assert [p.depends_on for p in placements] == [(), (0,), (0,), ()]


# --- errors -------------------------------------------------------------------------------


def test_an_invalid_stack_fails_with_its_diagnostics_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text("version: 1\ncluster: {name: c}\nmodels:\n  m: {imagee: x}\n")
    with pytest.raises(StackInvalid) as invalid:
        check_stack(str(path), Diagnostics())
    lines = [str(d) for d in invalid.value.diagnostics]
    with pytest.raises(pulumi.RunError) as failed:
        run_program(path)
    message = str(failed.value)
    assert message == "\n".join(lines)
    assert "Traceback" not in message
    assert 'File "' not in message
    # Raised `from None`: the language host prints RunError's message alone, and nothing
    # chained to it can add a traceback.
    assert failed.value.__cause__ is None
    assert failed.value.__suppress_context__


def test_an_error_level_policy_violation_stops_the_program(tmp_path: Path) -> None:
    """`pulumi up` enforces the stack's `policies:` as `iac validate` does: nothing is
    registered, and the message is the located finding."""
    path = tmp_path / "stack.yaml"
    stack = (ROOT / "examples" / "01-single-model" / "stack.yaml").read_text()
    stack = stack.replace("../../modules/", f"{ROOT / 'modules'}/")
    path.write_text(stack + "policies: {min_replicas: {min: 2}}\n")
    with pytest.raises(pulumi.RunError) as failed:
        run_program(path)
    assert str(failed.value) == (
        f"{path}:34:37: error: models.llama-3-8b.environments.production.autoscaling."
        "min_replicas: production of llama-3-8b runs 1 replica(s) at least; the policy asks "
        "for 2; set min_replicas: 2 on the environment [min-replicas]"
    )


def test_a_missing_stack_file_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match=r"no such stack file .*iac:stack"):
        run_program(tmp_path / "nope.yaml")


def test_warnings_go_to_the_pulumi_log(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        f"""\
version: 1
imports: [{ROOT / "modules" / "tei.yaml"}]
cluster: {{name: c}}
models:
  m:
    template: tei
    params: {{hf_model: BAAI/bge-large-en-v1.5}}
    autoscaling: {{scale_down_delay: 1h}}
    deployments:
      v1: {{}}
auth: {{public: true}}
"""
    )
    diagnostics = Diagnostics()
    compile_stack(check_stack(str(path), diagnostics), diagnostics)
    expected = [str(w) for w in diagnostics.sorted()]
    assert expected, "the stack should produce a warning"
    assert run_program(path).warnings() == expected


def test_config_reaches_the_provider(tmp_path: Path) -> None:
    path = ROOT / "examples" / "01-single-model" / "stack.yaml"
    run = run_program(
        path,
        config={
            "iac:context": "kind-dev",
            "iac:renderDir": str(tmp_path / "out"),
            "iac:kubeconfig": "/home/me/.kube/config",
        },
    )
    (provider,) = [r for r in run.registrations if r.type == PROVIDER_TYPE]
    # The kubeconfig is read as a secret (it may hold credentials): never shown in plain text.
    secret = {rpc._special_sig_key: rpc._special_secret_sig, "value": "/home/me/.kube/config"}
    assert provider.inputs == {
        "clusterIdentifier": "example",
        "context": "kind-dev",
        "kubeconfig": secret,
        "renderYamlToDirectory": str(tmp_path / "out"),
    }


def test_the_stack_name_picks_the_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stacks").mkdir()
    source = (ROOT / "examples" / "01-single-model" / "stack.yaml").read_text()
    (tmp_path / "stacks" / "staging.yaml").write_text(
        source.replace("../../modules/", str(ROOT / "modules") + "/")
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(settings.STACK_ENV, raising=False)
    run = run_program(None, stack="staging")
    assert run.deployed is not None
    staging = check_stack(str(tmp_path / "stacks" / "staging.yaml"))
    assert set(run.deployed.resources) == {object_id(o) for o in compile_stack(staging).objects}


# --- iac init -----------------------------------------------------------------------------


def test_init_writes_a_project_whose_program_runs_the_starter_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "serving"
    result = CliRunner().invoke(init_command, [str(directory), "--virtualenv", "/opt/venv"])
    assert result.exit_code == 0, result.output
    assert "pulumi up" in result.output
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert files == [
        "Pulumi.yaml",
        "README.md",
        "__main__.py",
        "modules/vllm.yaml",
        "requirements.txt",
        "schema/module.schema.json",
        "schema/stack.schema.json",
        "stacks/dev.yaml",
    ]
    assert yaml.safe_load((directory / "Pulumi.yaml").read_text()) == {
        "name": "serving",
        "description": "GPU model serving from iac stack files (stacks/<stack>.yaml)",
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "/opt/venv"}},
    }
    stack_text = (directory / "stacks" / "dev.yaml").read_text()
    assert "imports: [../modules/vllm.yaml]" in stack_text
    assert stack_text.startswith("# yaml-language-server: $schema=../schema/stack.schema.json\n")
    for kind in ("stack", "module"):
        copy = directory / "schema" / f"{kind}.schema.json"
        assert copy.read_text() == (ROOT / "schema" / f"{kind}.schema.json").read_text()
    starter = check_stack(str(directory / "stacks" / "dev.yaml"))
    example = check_stack(str(ROOT / "examples" / "01-single-model"))
    assert compile_stack(starter).objects == compile_stack(example).objects

    # Pulumi's Python host runs the project folder's __main__.py from the project folder.
    monkeypatch.chdir(directory)
    monkeypatch.delenv(settings.STACK_ENV, raising=False)
    run = run_program(
        None,
        stack="dev",
        entry=lambda: runpy.run_path(str(directory), run_name="__main__")["deployed"],
    )
    assert {(r.type, r.name) for r in run.kubernetes()} == {
        (type_token(o), expected_name(o)) for o in compile_stack(starter).objects
    }


def test_init_projects_carry_their_schemas_and_survive_a_move(tmp_path: Path) -> None:
    # Committed and cloned elsewhere, every `$schema=` still names a file of the project.
    assert CliRunner().invoke(init_command, [str(tmp_path / "made")]).exit_code == 0
    clone = tmp_path / "elsewhere" / "clone"
    shutil.copytree(tmp_path / "made", clone)
    shutil.rmtree(tmp_path / "made")
    named = 0
    for path in clone.rglob("*.yaml"):
        match = re.search(r"\$schema=(\S+)", path.read_text())
        if match:
            named += 1
            schema = (path.parent / match.group(1)).resolve()
            assert schema.is_relative_to(clone.resolve()), (path, match.group(1))
            assert json.loads(schema.read_text())["title"]
    assert named == 2  # the stack file and the module
    assert check_stack(str(clone / "stacks" / "dev.yaml")).models


def test_init_prints_a_cd_the_shell_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(init_command, ["My Project", "--no-virtualenv"])
    assert result.exit_code == 0, result.output
    assert "Created Pulumi project 'My-Project' in My Project:" in result.output
    (cd,) = [line.split("#")[0] for line in result.output.splitlines() if "  cd " in line]
    assert cd.strip() == "cd 'My Project'"
    assert shlex.split(cd) == ["cd", "My Project"]
    assert (tmp_path / "My Project" / "stacks" / "dev.yaml").is_file()


class _Installed:
    """What `importlib.metadata.distribution("iac")` gives: direct_url.json or none."""

    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return json.dumps(self.direct_url) if self.direct_url is not None else None


@pytest.mark.parametrize(
    ("direct_url", "line", "origin"),
    [
        ({"url": "https://github.com/acme/iac", "vcs_info": {"vcs": "git", "commit_id": "4f2a9c1",
          "requested_revision": "v0.1.0"}},
         "iac @ git+https://github.com/acme/iac@4f2a9c1", None),
        ({"url": "https://files.acme.dev/iac-0.1.0-cp311-cp311-linux_x86_64.whl",
          "archive_info": {"hashes": {"sha256": "ab12"}}},
         "iac @ https://files.acme.dev/iac-0.1.0-cp311-cp311-linux_x86_64.whl", None),
        (None, "iac==0.1.0", None),  # from a package index
        ({"url": "file:///home/me/my%20iac", "dir_info": {"editable": True}}, "iac==0.1.0",
         "/home/me/my iac"),
        ({"url": "file:///tmp/iac-0.1.0-cp311-cp311-linux_x86_64.whl", "archive_info": {}},
         "iac==0.1.0", "/tmp/iac-0.1.0-cp311-cp311-linux_x86_64.whl"),
    ],
)  # fmt: skip
def test_init_pins_the_iac_it_runs_so_a_teammate_installs_the_same(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direct_url: dict[str, Any] | None,
    line: str,
    origin: str | None,
) -> None:
    monkeypatch.setattr(project.metadata, "version", lambda name: "0.1.0")
    monkeypatch.setattr(project.metadata, "distribution", lambda name: _Installed(direct_url))
    requirement = project.iac_requirement()
    assert (requirement.line, requirement.origin) == (line, origin)

    result = CliRunner().invoke(init_command, [str(tmp_path / "p"), "--no-virtualenv"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p" / "requirements.txt").read_text()
    (pinned,) = [r for r in text.splitlines() if r and not r.startswith("#")]
    assert pinned == line
    parsed = PipRequirement(pinned)
    assert parsed.name == "iac"
    assert f"requirements.txt pins iac: `{line}`" in result.output
    # Where the line alone cannot reach this iac, the file and the output say how to get it.
    assert ('pip install "iac @ git+https://' in text) == (origin is not None)
    assert (f"installed from {origin}" in result.output) == (origin is not None)
    readme = (tmp_path / "p" / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme
    assert "iac schema --kind stack > schema/stack.schema.json" in readme


def test_init_pins_the_checkout_version_when_iac_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> None:
        raise project.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(project.metadata, "version", missing)
    monkeypatch.setattr(project.metadata, "distribution", missing)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    requirement = project.iac_requirement()
    assert (requirement.line, requirement.origin) == (f"iac=={version}", str(project.SOURCE_ROOT))


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "dev.yaml").write_text("mine\n")
    result = CliRunner().invoke(init_command, [str(tmp_path)])
    assert isinstance(result.exception, IacError)
    assert "refusing to overwrite existing files" in str(result.exception)
    assert str(tmp_path / "stacks" / "dev.yaml") in str(result.exception)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dev.yaml", "stacks"]
    assert (tmp_path / "stacks" / "dev.yaml").read_text() == "mine\n"


def test_init_without_a_virtualenv_and_name_checks(tmp_path: Path) -> None:
    result = CliRunner().invoke(init_command, [str(tmp_path / "p"), "--no-virtualenv"])
    assert result.exit_code == 0, result.output
    options = yaml.safe_load((tmp_path / "p" / "Pulumi.yaml").read_text())["runtime"]["options"]
    assert options == {"toolchain": "pip"}
    with pytest.raises(IacError, match="not a Pulumi project name"):
        project.scaffold(tmp_path / "q", name="no spaces")
    assert project.default_name(tmp_path / "My Models!") == "My-Models"


def test_pods_wait_for_their_claims_priority_and_templates() -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "weights", "namespace": "ns"},
        "spec": {},
    }
    priority = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "low"},
        "value": -10,
    }
    workload = _deployment("a")
    pod = workload["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "w", "persistentVolumeClaim": {"claimName": "weights"}}]
    pod["priorityClassName"] = "low"
    template = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "warm", "namespace": "ns"},
        "template": {"spec": {"priorityClassName": "low", "containers": []}},
    }
    buffer = {
        "apiVersion": "autoscaling.x-k8s.io/v1beta1",
        "kind": "CapacityBuffer",
        "metadata": {"name": "warm", "namespace": "ns"},
        "spec": {"podTemplateRef": {"name": "warm"}, "replicas": 1},
    }
    placements = layout.layout([buffer, workload, template, claim, priority])
    names = [p.logical_name for p in placements]
    waits = {p.logical_name: {names[i] for i in p.depends_on} for p in placements}
    assert waits["Deployment/ns/a"] == {"PersistentVolumeClaim/ns/weights", "PriorityClass/low"}
    assert waits["PodTemplate/ns/warm"] == {"PriorityClass/low"}
    assert waits["CapacityBuffer/ns/warm"] == {"PodTemplate/ns/warm"}
    assert names.index("CapacityBuffer/ns/warm") > names.index("PodTemplate/ns/warm")


def test_main_settles_the_garbage_collector_for_a_large_run() -> None:
    seen: dict[str, int] = {}

    def entry() -> Deployed:
        deployed = iac.program.main()
        seen["young"] = gc.get_threshold()[0]
        seen["frozen"] = gc.get_freeze_count()
        return deployed

    before = gc.get_threshold()
    run_program(ROOT / "examples" / "01-single-model" / "stack.yaml", entry=entry)
    assert seen["young"] == GC_YOUNG_THRESHOLD
    assert seen["frozen"] > 0
    assert gc.get_threshold() == before  # the helper gives the test process its own back


def test_iac_up_shows_pulumi_output_without_the_outputs_section() -> None:
    from iac.program.automation import WithoutOutputs

    shown: list[str] = []
    report = WithoutOutputs(shown.append)
    for line in [
        "Updating (dev):",
        " ~  kubernetes:apps/v1:Deployment Deployment/models/a updated (0.3s)",
        "Outputs:",
        "  ~ release  : {",
        "      models: {...}",
        "    }",
        "",
        "Resources:",
        "    ~ 2 updated",
        "Duration: 2s",
    ]:
        report(line)
    assert shown == [
        "Updating (dev):",
        " ~  kubernetes:apps/v1:Deployment Deployment/models/a updated (0.3s)",
        "Resources:",
        "    ~ 2 updated",
        "Duration: 2s",
    ]
