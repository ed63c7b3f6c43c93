"""Generate large stack files for benchmarks: N models, each with deployments and environments."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def large_stack(models: int, deployments: int = 3, environments: int = 2) -> str:
    """A valid stack of `models` vLLM models, written as a person would (flow mappings)."""
    modules = ROOT / "modules"
    lines = [
        "version: 1",
        f"imports: [{modules / 'vllm.yaml'}, {modules / 'tei.yaml'}]",
        "cluster: {name: bench, namespace: models, domain: models.example.com,"
        " provisioner: karpenter}",
        "defaults:",
        "  autoscaling: {scale_down_delay: 15m}",
        "models:",
    ]
    env_names = ["production", "staging", "canary", "eval", "shadow"][:environments]
    for i in range(models):
        template = "tei" if i % 5 == 4 else "vllm"
        model_id = "BAAI/bge-large-en-v1.5" if template == "tei" else f"org/model-{i}"
        lines += [
            f"  model-{i:04d}:",
            f"    template: {template}",
            f"    params: {{hf_model: {model_id}}}",
            '    resources: {accelerator: "H100:1", cpu: "8", memory: 64Gi}',
            "    secrets: [hf-token]",
            "    autoscaling: {concurrency_target: 64, max_replicas: 4}",
            "    deployments:",
        ]
        for d in range(deployments):
            image = f"    image: vllm/vllm-openai:v0.{d}.0" if d else ""
            lines.append(
                f"      v{d + 1}: {{{image.strip()}}}" if image else f"      v{d + 1}: {{}}"
            )
        lines.append("    environments:")
        for e, env in enumerate(env_names):
            deployment = deployments - e
            lines += [
                f"      {env}:",
                f"        deployment: v{deployment}",
                f"        autoscaling: {{min_replicas: {1 if e == 0 else 0}, max_replicas: 8}}",
            ]
    return "\n".join(lines) + "\n"
