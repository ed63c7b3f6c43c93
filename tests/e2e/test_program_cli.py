"""Plain `pulumi up` / `pulumi preview` of a project made by `iac init`: the project's own
`__main__.py` (`iac.program.main()`) run by the real engine, as a user runs it.

- `pulumi up` applies exactly what `iac render` prints, a second preview expects no changes,
  and the stack outputs carry the release, the endpoints and the stack files as applied;
- after a promotion edit, `pulumi preview --json` shows the creates, updates and deletes the
  compiler's objects differ by, and `iac plan --base live` reads the live release from the
  outputs of a plain `pulumi up`;
- an error-level policy in the stack stops `pulumi up` with the located finding, applying
  nothing;
- the policy pack runs under `pulumi preview --policy-pack`, passing and failing;
- a secret set with `pulumi config set --secret` appears in no output, state or log;
- a rolling promotion under plain `pulumi up` is applied one stage per update, with a
  warning that says what runs the rest (`pulumi preview` shows the same), and `iac up`
  takes the rollout over from the stage a `pulumi up` applied.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack, object_id
from iac.compile.names import logical_name
from iac.diff.plan import make_plan
from iac.rollout.executor import digest
from iac.rollout.stages import stages
from iac.validate import check_stack

if TYPE_CHECKING:
    from conftest import PulumiEngine

ROOT = Path(__file__).resolve().parents[2]
STACK = "dev"
SECRET = "canary-hf-token-51c0e2"
MODEL = "llama-3-8b"
K8S = "kubernetes:"


@pytest.fixture
def project(tmp_path: Path, pulumi_engine: PulumiEngine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`iac init`, a second deployment in its stack file, a Pulumi stack rendering to a folder
    instead of a cluster, and a secret in the stack's config."""
    for key, value in pulumi_engine.env.items():  # for `iac plan --base live` in-process
        monkeypatch.setenv(key, value)
    directory = tmp_path / "project"
    name = "iac-e2e-cli-" + tmp_path.name.replace("_", "-")[-30:]
    created = CliRunner().invoke(cli, ["init", str(directory), "--name", name])
    assert created.exit_code == 0, created.output
    stack_file = directory / "stacks" / f"{STACK}.yaml"
    text = stack_file.read_text()
    v1 = "      v1: {}"
    assert v1 in text
    stack_file.write_text(text.replace(v1, v1 + "\n      v2: {image: vllm/vllm-openai:v0.7.0}", 1))
    pulumi_engine.run("stack", "init", STACK, cwd=directory)
    pulumi_engine.run("config", "set", "iac:renderDir", "rendered", cwd=directory)
    pulumi_engine.run("config", "set", "--secret", "hfToken", SECRET, cwd=directory)
    return directory


def rendered(project: Path) -> dict[str, str]:
    """The manifests the provider wrote, by object ID, as canonical JSON."""
    found = {}
    for path in (project / "rendered").rglob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        found[object_id(obj)] = json.dumps(obj, sort_keys=True)
    return found


def compiled(project: Path) -> list[dict[str, Any]]:
    return compile_stack(check_stack(str(project / "stacks" / f"{STACK}.yaml"))).objects


def canonical(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {object_id(o): json.dumps(o, sort_keys=True) for o in objects}


def expected_steps(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(op, logical name) for every object the two compiled releases differ by."""
    before = {logical_name(o): json.dumps(o, sort_keys=True) for o in base}
    after = {logical_name(o): json.dumps(o, sort_keys=True) for o in head}
    steps = {("create", n) for n in after.keys() - before.keys()}
    steps |= {("delete", n) for n in before.keys() - after.keys()}
    steps |= {("update", n) for n in after.keys() & before.keys() if after[n] != before[n]}
    return steps


def preview_steps(preview: dict[str, Any]) -> set[tuple[str, str]]:
    """(op, logical name) of the Kubernetes objects a `pulumi preview --json` would change."""
    return {
        (step["op"], step["urn"].rpartition("::")[2])
        for step in preview["steps"]
        if step["op"] != "same"
        and step["urn"].rpartition("::")[0].rpartition("$")[2].startswith(K8S)
    }


def iac(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.e2e
def test_pulumi_up_applies_what_iac_render_prints_and_a_promotion_previews_as_planned(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    run = pulumi_engine.run
    outputs_seen = []

    first = run("up", "--yes", "--skip-preview", cwd=project)
    outputs_seen.append(first.stdout + first.stderr)
    base = compiled(project)
    assert rendered(project) == canonical(base)
    # Nothing changed: a preview must say so (non-zero exit otherwise).
    unchanged = run("preview", "--expect-no-changes", cwd=project)
    outputs_seen.append(unchanged.stdout + unchanged.stderr)

    outputs = json.loads(run("stack", "output", "--json", cwd=project).stdout)
    assert outputs["endpoints"] == {
        MODEL: {"production": f"https://{MODEL}.models.example.com/environments/production/"}
    }
    assert outputs["release"]["models"][MODEL]["environments"]["production"] == {
        "traffic": {"v1": 100}
    }
    assert outputs["sources"]["stack"] == f"stacks/{STACK}.yaml"
    assert set(outputs["sources"]["files"]) == {f"stacks/{STACK}.yaml", "modules/vllm.yaml"}

    promoted = iac(
        "promote", str(project / "stacks" / f"{STACK}.yaml"), MODEL, "v2", "--to", "production"
    )
    assert promoted.exit_code == 0, promoted.output
    head = compiled(project)
    preview = run("preview", "--json", cwd=project)
    outputs_seen.append(preview.stdout + preview.stderr)
    steps = preview_steps(json.loads(preview.stdout))
    assert steps == expected_steps(base, head)
    assert ("update", f"HTTPRoute/models/{MODEL}") in steps  # production's traffic moves

    # `iac plan --base live` reads what the plain `pulumi up` applied from its outputs.
    plan = iac(
        "plan", str(project / "stacks" / f"{STACK}.yaml"), "--base", "live",
        "--stack", STACK, "--project-dir", str(project), "--format", "json",
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    outputs_seen.append(plan.output)
    outputs_seen.append(iac("render", str(project / "stacks" / f"{STACK}.yaml")).output)
    planned = json.loads(plan.stdout)
    assert [(e["kind"], e["model"], e.get("environment")) for e in planned["events"]] == [
        ("promote", MODEL, "production")
    ]
    summary = json.loads(preview.stdout)["changeSummary"]
    objects = planned["objects"]
    assert (len(objects["added"]), len(objects["changed"]), len(objects["removed"])) == (
        summary.get("create", 0),
        summary.get("update", 0),
        summary.get("delete", 0),
    )

    second = run("up", "--yes", "--skip-preview", cwd=project)
    outputs_seen.append(second.stdout + second.stderr)
    assert rendered(project) == canonical(head)
    outputs = json.loads(run("stack", "output", "--json", cwd=project).stdout)
    assert outputs["release"]["models"][MODEL]["environments"]["production"] == {
        "traffic": {"v2": 100}
    }

    # The secret is encrypted in the stack's config and appears nowhere else.
    state = run("stack", "export", cwd=project).stdout
    assert state
    assert SECRET not in state
    assert SECRET not in (project / f"Pulumi.{STACK}.yaml").read_text()
    assert not [text for text in outputs_seen if SECRET in text]
    assert not [
        p for p in (project / "rendered").rglob("*") if p.is_file() and SECRET in p.read_text()
    ]


@pytest.mark.e2e
def test_an_error_level_policy_stops_pulumi_up_and_applies_nothing(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    stack_file = project / "stacks" / f"{STACK}.yaml"
    stack_file.write_text(stack_file.read_text() + "policies: {min_replicas: {min: 2}}\n")
    failed = pulumi_engine.run("up", "--yes", "--skip-preview", cwd=project, check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert (
        f"{stack_file}:35:37: error: models.{MODEL}.environments.production.autoscaling."
        f"min_replicas: production of {MODEL} runs 1 replica(s) at least; the policy asks for "
        "2; set min_replicas: 2 on the environment [min-replicas]"
    ) in output
    assert "Traceback" not in output
    assert not (project / "rendered").exists()
    state = json.loads(pulumi_engine.run("stack", "export", cwd=project).stdout)
    assert not [r for r in state["deployment"].get("resources") or [] if r["type"].startswith(K8S)]


@pytest.mark.e2e
def test_the_policy_pack_runs_under_pulumi_preview(
    project: Path, pulumi_engine: PulumiEngine, tmp_path: Path
) -> None:
    pack = str(ROOT / "iac" / "policy_pack")
    passing, failing = tmp_path / "passing.json", tmp_path / "failing.json"
    passing.write_text(json.dumps({"gpu-quota": {"per_model": 4}}))
    failing.write_text(json.dumps({"min-replicas": {"min": 3}, "gpu-quota": {"per_model": 1}}))

    ok = pulumi_engine.run(
        "preview", "--policy-pack", pack, "--policy-pack-config", str(passing), cwd=project
    )
    assert "✅ iac-serving" in ok.stdout, ok.stdout

    bad = pulumi_engine.run(
        "preview", "--policy-pack", pack, "--policy-pack-config", str(failing), cwd=project,
        check=False,
    )  # fmt: skip
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0, output
    assert "❌ iac-serving" in output
    assert (
        f"[min-replicas] {MODEL}/production/v1: production of {MODEL} runs 1 replica(s) at "
        "least; the policy asks for 3; set min_replicas: 3 on the environment"
    ) in output
    assert (
        f"[gpu-quota] {MODEL}: {MODEL} may use 3 GPUs at max replicas; the quota is 1 per "
        "model; lower max_replicas, or raise policies.gpu_quota.per_model"
    ) in output
    assert "invalid policy configuration" not in output


@pytest.mark.e2e
def test_a_renamed_model_is_replaced_not_recreated_and_protect_refuses_deletion(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    run = pulumi_engine.run
    stack_file = project / "stacks" / f"{STACK}.yaml"
    run("up", "--yes", "--skip-preview", cwd=project)

    # Renamed with its old name declared: every object of it is one replacement.
    text = stack_file.read_text()
    stack_file.write_text(
        text.replace(
            f"  {MODEL}:\n", f"  chat:\n    previous_names: [{MODEL}]\n    protect: true\n"
        )
    )
    preview = json.loads(run("preview", "--json", cwd=project).stdout)
    ops = {(op, name.split("/")[0]) for op, name in preview_steps(preview)}
    assert {op for op, _ in ops} == {"replace"}, ops
    assert ("replace", "Deployment") in ops
    assert preview["changeSummary"].get("create", 0) == 0
    assert preview["changeSummary"].get("delete", 0) == 0
    run("up", "--yes", "--skip-preview", cwd=project)
    assert rendered(project) == canonical(compiled(project))

    # Protected: removing the model fails and deletes nothing.
    stack_file.write_text(stack_file.read_text().split("models:\n")[0] + "models: {}\n")
    before = rendered(project)
    failed = run("up", "--yes", "--skip-preview", cwd=project, check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "protected" in output
    after = rendered(project)
    kept = {oid: text for oid, text in before.items() if '"iac.dev/model": "chat"' in text}
    assert len(kept) > 10
    assert {oid: after.get(oid) for oid in kept} == kept


PRODUCTION = "        autoscaling: {min_replicas: 1, max_replicas: 2}\n"


def roll(project: Path, stabilization: str) -> Path:
    """Production at 2 replicas, promoted by `strategy: rolling` in steps of one replica:
    four stages (the candidate brought up, 50 %, 100 %, the previous deployment scaled to
    zero)."""
    stack_file = project / "stacks" / f"{STACK}.yaml"
    text = stack_file.read_text()
    assert PRODUCTION in text
    stack_file.write_text(
        text.replace(
            PRODUCTION,
            "        autoscaling: {min_replicas: 2, max_replicas: 4}\n"
            "        promotion: {strategy: rolling, max_surge_percent: 50, "
            f"stabilization: {stabilization}}}\n",
        )
    )
    return stack_file


def staged_objects(project: Path, base: Any) -> list[list[dict[str, Any]]]:
    """The objects of each stage of the change from `base` (compiled) to the stack file."""
    head = check_stack(str(project / "stacks" / f"{STACK}.yaml"))
    plan = make_plan(base, compile_stack(head))
    return [stage.compile().objects for stage in stages(head, plan.rollouts)]


def outputs(project: Path, engine: PulumiEngine) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(engine.run("stack", "output", "--json", cwd=project).stdout)
    return found


def production_traffic(found: dict[str, Any]) -> dict[str, int]:
    traffic: dict[str, int] = found["release"]["models"][MODEL]["environments"]["production"][
        "traffic"
    ]
    return traffic


@pytest.mark.e2e
def test_pulumi_up_applies_a_rolling_promotion_one_stage_at_a_time_and_iac_up_finishes_it(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    run = pulumi_engine.run
    stack_file = roll(project, "1h")
    base_text = stack_file.read_text()
    first = run("up", "--yes", "--skip-preview", cwd=project)
    # The first update: no outputs to read yet, nothing to say.
    assert "promoted from" not in first.stdout + first.stderr
    base = compile_stack(check_stack(str(stack_file)))
    assert rendered(project) == canonical(base.objects)
    assert "rollout" not in outputs(project, pulumi_engine)

    promoted = iac("promote", str(stack_file), MODEL, "v2", "--to", "production")
    assert promoted.exit_code == 0, promoted.output
    stage_objects = staged_objects(project, base)
    assert len(stage_objects) == 4
    position = "stage 1/4 (llama-3-8b/production: 0% to v2 (1 replicas, v1 2))"
    stage1 = f"this update applies {position}"
    command = f"`iac up stacks/{STACK}.yaml --stack {STACK}`"

    # `pulumi preview` says what `pulumi up` will do, and previews the first stage only.
    preview = run("preview", cwd=project)
    assert stage1 in preview.stdout, preview.stdout
    as_json = json.loads(run("preview", "--json", cwd=project).stdout)
    assert preview_steps(as_json) == expected_steps(base.objects, stage_objects[0])

    up = run("up", "--yes", "--skip-preview", cwd=project)
    said = up.stdout + up.stderr
    assert (
        "warning: llama-3-8b/production is promoted from v1 to v2 with `strategy: rolling`: "
        "applied in one update, all of its traffic would move at once, so `pulumi up` applies "
        f"one stage per update: {stage1}. The rest: {command} (each stage, its stabilization "
        "and gates, a rollback on failure), or `pulumi up` again after this update for stage "
        "2/4"
    ) in said, said
    assert rendered(project) == canonical(stage_objects[0])
    found = outputs(project, pulumi_engine)
    # v2 comes up beside v1 and is sent nothing yet.
    assert production_traffic(found) == {"v1": 100, "v2": 0}
    # The live release is still the one the rollout started from: `iac plan --base live`
    # shows the whole promotion.
    assert found["sources"]["files"][f"stacks/{STACK}.yaml"] == base_text
    head = compile_stack(check_stack(str(stack_file)))
    assert found["rollout"] == {"head": digest(head), "stage": 0, "stages": 4, "status": "rolling"}

    # No stabilization follows a stage that moved no traffic: the next update moves half.
    position = "stage 2/4 (llama-3-8b/production: 50% to v2 (2 replicas, v1 1))"
    second = run("up", "--yes", "--skip-preview", cwd=project)
    assert (
        f"this update applies {position}. The rest: {command} (each stage, its stabilization "
        "and gates, a rollback on failure), or `pulumi up` again 1h after this update (the "
        "stabilization) for stage 3/4"
    ) in second.stdout + second.stderr
    assert rendered(project) == canonical(stage_objects[1])
    found = outputs(project, pulumi_engine)
    assert production_traffic(found) == {"v1": 50, "v2": 50}
    ready_at = found["rollout"].pop("ready_at")
    assert found["rollout"] == {"head": digest(head), "stage": 1, "stages": 4, "status": "rolling"}
    assert ready_at.endswith("Z")

    # Within the stabilization, another `pulumi up` keeps the stage and says until when.
    again = run("up", "--yes", "--skip-preview", cwd=project)
    until = datetime.strptime(ready_at, "%Y-%m-%dT%H:%M:%SZ") + timedelta(hours=1)
    assert (f"{position} is stabilizing until {until:%Y-%m-%dT%H:%M:%SZ} (") in again.stdout, (
        again.stdout
    )
    assert (
        "left of 1h); this update keeps it. The rest: `pulumi up` again after then for stage "
        f"3/4, or {command}"
    ) in again.stdout
    assert rendered(project) == canonical(stage_objects[1])
    run("preview", "--expect-no-changes", cwd=project)

    plan = iac(
        "plan", str(stack_file), "--base", "live", "--stack", STACK,
        "--project-dir", str(project), "--format", "json",
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    assert [(e["kind"], e["model"]) for e in json.loads(plan.stdout)["events"]] == [
        ("promote", MODEL)
    ]

    # `iac up` takes over after the stage `pulumi up` applied.
    finished = iac("up", str(stack_file), "--stack", STACK, "--project-dir", str(project), "--yes")
    assert finished.exit_code == 0, finished.output + finished.stderr
    assert "resuming after stage 2 of 4" in finished.stderr
    assert "stage 2/4" not in finished.stderr
    assert rendered(project) == canonical(head.objects)
    found = outputs(project, pulumi_engine)
    assert found["rollout"] == {"head": digest(head), "stage": 3, "stages": 4, "status": "done"}
    assert production_traffic(found) == {"v2": 100}


@pytest.mark.e2e
def test_pulumi_up_after_pulumi_up_walks_a_rolling_promotion_to_its_end(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    run = pulumi_engine.run
    stack_file = roll(project, "0s")
    run("up", "--yes", "--skip-preview", cwd=project)
    base = compile_stack(check_stack(str(stack_file)))
    promoted = iac("promote", str(stack_file), MODEL, "v2", "--to", "production")
    assert promoted.exit_code == 0, promoted.output
    stage_objects = staged_objects(project, base)

    said = []
    for objects, traffic in zip(
        stage_objects,
        [{"v1": 100, "v2": 0}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}, {"v2": 100}],
        strict=True,
    ):
        up = run("up", "--yes", "--skip-preview", cwd=project)
        said.append(up.stdout + up.stderr)
        assert rendered(project) == canonical(objects)
        assert production_traffic(outputs(project, pulumi_engine)) == traffic
    assert "this update applies stage 1/4" in said[0]
    assert "this update applies stage 2/4" in said[1]
    assert (
        "this update applies stage 3/4 (llama-3-8b/production: 100% to v2 (2 replicas, v1 0))"
        in said[2]
    )
    assert (
        "this update applies the last stage 4/4 (llama-3-8b/production: v1 scale to zero); "
        "the promotion is complete"
    ) in said[3]
    assert "warning: llama-3-8b" not in said[3]
    found = outputs(project, pulumi_engine)
    assert found["sources"]["files"][f"stacks/{STACK}.yaml"] == stack_file.read_text()
    assert found["rollout"]["status"] == "done"
    quiet = run("preview", "--expect-no-changes", cwd=project)
    assert "promoted from" not in quiet.stdout + quiet.stderr
