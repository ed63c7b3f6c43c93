"""A chain's promotion is one plan event naming the chain, with its entrypoint's rollout."""

from __future__ import annotations

from pathlib import Path

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.diff.report import to_text
from iac.validate import check_stack

EXAMPLE = Path(__file__).parents[2] / "examples" / "09-rag-chain" / "stack.yaml"


def test_a_chain_promotion_is_one_event_with_its_rollout(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("../../modules/", str(EXAMPLE.parents[2] / "modules") + "/")
    base = tmp_path / "base.yaml"
    base.write_text(text)
    head = tmp_path / "head.yaml"
    # Promote v2 to production; staging gets a copy of v1 (one environment per deployment).
    head.write_text(
        text.replace("      v1: {}\n", "      v1: {}\n      v1-staging: {from: v1}\n")
        .replace("deployment: v1\n", "deployment: v2\n", 1)
        .replace("        deployment: v2\n        autoscaling:\n          router: {min_replicas: 1",
                 "        deployment: v1-staging\n        autoscaling:\n          router: {min_replicas: 1")
    )  # fmt: skip
    plan = make_plan(compile_stack(check_stack(str(base))), compile_stack(check_stack(str(head))))
    promotions = [e for e in plan.events if e["kind"] == "promote_chain"]
    assert promotions == [
        {
            "kind": "promote_chain",
            "model": None,
            "chain": "rag",
            "entrypoint": "router",
            "environment": "production",
            "from": "v1",
            "to": "v2",
            "chainlets": ["embedder", "llm", "router"],
        },
        {
            "kind": "promote_chain",
            "model": None,
            "chain": "rag",
            "entrypoint": "router",
            "environment": "staging",
            "from": "v2",
            "to": "v1-staging",
            "chainlets": ["embedder", "llm", "router"],
        },
    ]
    assert not [e for e in plan.events if e["kind"] == "promote"]
    created = [e for e in plan.events if e["kind"] == "create_chain_deployment"]
    assert [(e["deployment"], e["chainlets"]) for e in created] == [
        ("v1-staging", ["embedder", "llm", "router"])
    ]
    shown = to_text(plan, "plan")
    assert "chain rag\n" in shown
    assert "→ production: v1 → v2 (chainlets embedder, llm, router, as one)\n" in shown
    # The chain's rollout, under the chain's event: every chainlet, one switch.
    assert (
        "      immediate: every chainlet up and ready, then all traffic at once, rag-router 2, "
        "rag-embedder 1, rag-llm 1 replica(s), peak 8; then v1 scales to zero\n"
    ) in shown
