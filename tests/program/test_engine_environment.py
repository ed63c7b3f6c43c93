"""The environment `iac up` runs the Pulumi CLI in: iac's settings, a user's own values first."""

from __future__ import annotations

from iac.program.automation import engine_environment


def test_iac_up_sets_its_engine_settings() -> None:
    env = engine_environment({"PATH": "/bin"})
    assert env == {
        "PATH": "/bin",
        "PULUMI_K8S_ENABLE_PATCH_FORCE": "true",
        "PULUMI_SKIP_CHECKPOINTS": "true",
        "PULUMI_PARALLEL": "64",
        "PULUMI_K8S_CLIENT_QPS": "1000",
        "PULUMI_K8S_CLIENT_BURST": "1000",
    }


def test_a_users_own_values_win() -> None:
    mine = {
        "PULUMI_K8S_ENABLE_PATCH_FORCE": "false",
        "PULUMI_SKIP_CHECKPOINTS": "false",
        "PULUMI_PARALLEL": "8",
        "PULUMI_K8S_CLIENT_QPS": "50",
        "PULUMI_K8S_CLIENT_BURST": "120",
    }
    assert engine_environment(mine) == mine
