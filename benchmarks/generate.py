"""Generate large stack files for benchmarks: N models, each with deployments and environments."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def large_stack(models: int, deployments: int = 3, environments: int = 2, shards: int = 1) -> str:
    """A valid stack of `models` vLLM models, written as a person would (flow mappings),
    applied as `shards` Pulumi stacks of models (`cluster.shards`)."""
    modules = ROOT / "modules"
    lines = [
        "version: 1",
        f"imports: [{modules / 'vllm.yaml'}, {modules / 'tei.yaml'}]",
        "cluster: {name: bench, namespace: models, domain: models.example.com,"
        " provisioner: karpenter" + (f", shards: {shards}" if shards > 1 else "") + "}",
        "auth: {key_sets: {clients: [model-api-keys]}, api_keys: [clients]}",
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


def changed_stack(text: str, every: int = 10) -> str:
    """The same stack with one model in `every` changed: a new image on its v2 and its
    production promoted to v2 (a realistic release train)."""
    lines = text.splitlines()
    out = []
    model = -1
    for line in lines:
        if line.startswith("  model-"):
            model = int(line.strip().rstrip(":").split("-")[1])
        if model >= 0 and model % every == 0:
            if line.startswith("      v2: {image:"):
                line = line.replace("v0.1.0", "v0.1.1")
            if line == "        deployment: v3":
                line = "        deployment: v2"
            if line == "        deployment: v2" and "staging" in out[-1]:
                line = "        deployment: v3"
        out.append(line)
    return "\n".join(out) + "\n"
