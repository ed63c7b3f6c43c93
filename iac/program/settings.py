"""What the program reads from Pulumi config, and which stack file it compiles.

| config key       | env         | meaning                                                   |
|------------------|-------------|-----------------------------------------------------------|
| `iac:stack`      | `IAC_STACK` | stack file (or folder with `stack.yaml`); default         |
|                  |             | `stacks/<pulumi stack name>.yaml`                         |
| `iac:kubeconfig` |             | kubeconfig path or contents (set it with `--secret`)      |
| `iac:context`    |             | kubeconfig context                                        |
| `iac:renderDir`  |             | write manifests to this folder instead of applying them   |

Relative paths are relative to the Pulumi project (the folder of `Pulumi.yaml`).
No Pulumi import: the program reads the values, this module decides what they mean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iac.errors import IacError

NAMESPACE = "iac"
STACK = "stack"
KUBECONFIG = "kubeconfig"
CONTEXT = "context"
RENDER_DIR = "renderDir"
STACK_ENV = "IAC_STACK"
STACKS_DIR = "stacks"


class StackFileMissing(IacError):
    """No stack file where the program looks for one."""


def stack_file(
    configured: str | None, environ: Mapping[str, str], stack_name: str, root: Path
) -> Path:
    """The stack file: `iac:stack`, else $IAC_STACK, else `stacks/<stack name>.yaml`."""
    if configured:
        chosen, source = configured, f"config `{NAMESPACE}:{STACK}`"
    elif environ.get(STACK_ENV):
        chosen, source = environ[STACK_ENV], f"${STACK_ENV}"
    else:
        chosen, source = f"{STACKS_DIR}/{stack_name}.yaml", f"Pulumi stack '{stack_name}'"
    path = Path(chosen) if os.path.isabs(chosen) else root / chosen
    if not path.exists():
        raise StackFileMissing(
            f"{path}: no such stack file (from {source}); create it, or name another with "
            f"`pulumi config set {NAMESPACE}:{STACK} PATH` (relative to {root})"
        )
    return path


@dataclass(frozen=True)
class ClusterAccess:
    """How the program reaches the cluster: what `iac up`'s preflight reads too."""

    kubeconfig: str | None
    """`iac:kubeconfig`: a kubeconfig's path or contents; None: the provider's default
    (`$KUBECONFIG`, else `~/.kube/config`), as kubectl's."""
    context: str | None
    """`iac:context`; None: the kubeconfig's current context."""
    render_dir: str | None
    """`iac:renderDir`: no cluster at all, the manifests go to this folder."""


def cluster_access(config: Mapping[str, str]) -> ClusterAccess:
    """From a stack's config as `pulumi config` lists it (`iac:kubeconfig` → value)."""

    def value(key: str) -> str | None:
        return config.get(f"{NAMESPACE}:{key}") or None

    return ClusterAccess(value(KUBECONFIG), value(CONTEXT), value(RENDER_DIR))
