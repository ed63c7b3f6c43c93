"""The pack's entry point, run by `pulumi preview --policy-pack iac/policy_pack`.

Constructing the PolicyPack starts its gRPC server and serves until Pulumi ends it, so it
happens only here, never on import.
"""

from pulumi_policy import PolicyPack

from iac.policy_pack.policies import PACK_NAME, all_policies

PolicyPack(name=PACK_NAME, policies=all_policies())
