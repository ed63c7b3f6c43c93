"""Replicas no node of their pool can hold, on pools whose machines iac does not choose.

On GKE the pool's machine type is chosen to fit every replica, and compiling it reports
when none does (`iac.compile.capacity.gke`). Karpenter launches instances of the types its pool
allows (any carrying the device, or the pool's `instance_types`), and with `provisioner:
existing` the nodes are what they are: where their sizes are known (the catalog's, for the
instance types a pool names), a replica asking more GPUs, CPU or memory than the largest of
them offers would stay pending for ever. That is an error; a replica that fits the machine
but not what iac estimates a node keeps for itself (GKE's documented reservations, an
estimate elsewhere) is a warning. Existing nodes of unknown types are not judged.
"""

from __future__ import annotations

from iac.catalog import catalog
from iac.compile.capacity.machines import (
    Machine,
    Replica,
    largest_machine,
    machine_size,
    node_units,
    per_node,
    physical,
    pool_machines,
    pool_replicas,
    replica_location,
    replica_shape,
)
from iac.compile.release import Release
from iac.compile.release.node_pools import PoolPlan
from iac.diagnostics import Diagnostics
from iac.spec.resolved import ResolvedStack

RULE = "replica-fits-no-instance"


def unfit_replicas(stack: ResolvedStack, release: Release, diagnostics: Diagnostics) -> None:
    """Report each replica no machine its pool may get can hold whole (its GPUs, CPU and
    memory on one node), on Karpenter and on existing nodes of known types."""
    provisioner = release.cluster.provisioner
    for plan in release.pools:
        candidates = _candidates(stack, plan, provisioner)
        if not candidates:
            continue  # unknown sizes; or no instance carries the device: placement says so
        for replica in pool_replicas(release, plan):
            if not any(per_node(plan, machine, replica) >= 1 for machine in candidates):
                _report(stack, plan, replica, candidates, provisioner, diagnostics)


def _candidates(stack: ResolvedStack, plan: PoolPlan, provisioner: str) -> list[Machine]:
    """The machines the pool's nodes may be; empty where that is not known."""
    pricing = stack.spec.pricing
    if provisioner == "karpenter":
        candidates, unknown = pool_machines(plan, pricing, "aws")
        return [] if unknown else candidates
    if provisioner != "existing" or not plan.instance_types:
        return []
    found = []
    for name in plan.instance_types:
        known = [i for cloud in catalog().instances.values() if (i := cloud.get(name))]
        if not known or known[0].accelerator != physical(plan):
            return []  # a type of unknown size, or not carrying the device: not judged
        i = known[0]
        found.append(Machine(i.name, i.gpus, i.vcpu, i.memory_gib, i.hourly))
    return found


def holds(plan: PoolPlan, machine: Machine, replica: Replica) -> bool:
    """Whether the machine has the devices, CPU and memory a replica asks for at all,
    before anything the node keeps for itself."""
    return (
        replica.units <= node_units(plan, machine)
        and (machine.vcpu is None or replica.cpu <= machine.vcpu)
        and (machine.memory_gib is None or replica.memory <= machine.memory_gib * 2**30)
    )


def _report(
    stack: ResolvedStack,
    plan: PoolPlan,
    replica: Replica,
    candidates: list[Machine],
    provisioner: str,
    diagnostics: Diagnostics,
) -> None:
    largest = largest_machine(candidates)
    certain = not any(holds(plan, machine, replica) for machine in candidates)
    reserve = "" if certain else ", less what the node keeps"
    if provisioner == "karpenter":
        machines = f"no AWS instance type for node pool '{plan.name}'"
        outcome = "Karpenter would leave its pods pending"
        remedy = (
            "widen the pool's `instance_types`"
            if plan.instance_types
            else "choose an accelerator whose instances are larger"
        )
    else:
        machines = f"none of the `instance_types` of node pool '{plan.name}'"
        outcome = "its pods would stay pending"
        remedy = "widen the pool's `instance_types`"
    message = (
        f"{machines} {'can hold' if certain else 'fits'} a replica of "
        f"{replica.model}/{replica.deployment} ({replica_shape(plan, replica)}) on one node; "
        f"the largest is {largest.name} ({machine_size(largest)}{reserve}), so {outcome}. "
        f"Lower the replica's resources, or {remedy} [{RULE}]"
    )
    location, path = replica_location(stack, plan, replica)
    if certain:
        diagnostics.error(location, message, path)
    else:
        diagnostics.warning(location, message, path)
