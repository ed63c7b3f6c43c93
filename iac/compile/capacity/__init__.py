"""The machines under the pools: which instances serve a pool, what they hold and cost, and
the capacity kept ready for cold starts. Everything here reads a built `Release` (its pools
come from `iac.compile.release.node_pools`); a change to how machines are chosen or priced
is made here.

    machines.py   what a node of a pool offers, what a replica asks, how many fit
    gke.py        GKE: the cheapest machine type a pool's replicas fit on; its NodePool
    karpenter.py  Karpenter: a NodePool per pool and the EC2NodeClass they launch with
    placement.py  where a GPU pod may run: its pool's node labels and accelerator affinity
    fit.py        replicas no node of their pool can hold, where iac does not choose them
    coldstart.py  images pre-pulled on GPU nodes, and warm capacity kept provisioned
    prices.py     what a device, a node and an instance cost per hour
    pricing.py    a release's monthly cost: floor, ceiling, whole nodes billed
"""
