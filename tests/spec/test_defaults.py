"""Every public default, pinned: changing one is a deliberate, visible diff (Baseten's
defaults from reference/baseten.md §5.1 and §3.4)."""

from __future__ import annotations

from iac.spec import Autoscaling, Cluster, Gateway, Health, Metrics, NodePool, Promotion


def test_autoscaling_defaults_follow_baseten() -> None:
    assert Autoscaling().model_dump() == {
        "min_replicas": 0,
        "max_replicas": 1,
        "autoscaling_window": 60,
        "scale_down_delay": 900,
        "max_scale_down_rate": 50,
        "concurrency_target": 1,
        "target_utilization": 70,
        "schedules": None,
    }


def test_promotion_defaults_follow_baseten() -> None:
    assert Promotion().model_dump() == {
        "strategy": "immediate",
        "max_surge_percent": 25,
        "max_unavailable_percent": 0,
        "allow_unavailable": False,
        "stabilization": 0,
        "replica_overhead_percent": 0,
        "cleanup": "scale_to_zero",
        "gates": None,
    }


def test_health_metrics_cluster_and_pool_defaults() -> None:
    assert Health().model_dump() == {"path": "/health", "startup_timeout": 1800}
    assert Metrics().model_dump() == {"path": "/metrics", "port": None, "in_flight": None}
    assert Cluster(name="c").model_dump() == {
        "name": "c",
        "namespace": "models",
        "domain": None,
        "endpoints": None,
        "gateway": Gateway().model_dump(),
        "provisioner": "existing",
        "gpu_label": None,  # GPU feature discovery's labels on existing nodes
        "create_namespace": True,
        "prepull_images": True,
        "gateway_timeout": None,
        "prometheus": "http://prometheus-operated.monitoring.svc:9090",
        "scale_from_zero": {
            "namespace": "keda",
            "interceptor_service": "keda-add-ons-http-interceptor-proxy",
            "interceptor_port": 8080,
            "scaler_address": "keda-add-ons-http-external-scaler.keda:9090",
        },
        "network_policy": True,
        "monitoring": True,
        "monitoring_namespace": "monitoring",
        "karpenter": {
            "node_class": None,
            "node_role": None,
            "ami_alias": "al2023@latest",
            "root_volume": "300Gi",
        },
        "gke": None,
        "shards": 1,
    }
    assert Gateway().model_dump() == {
        "name": "inference",
        "namespace": "gateway-system",
        "implementation": "envoy-gateway",
    }
    assert NodePool(accelerator="H100").model_dump() == {
        "accelerator": "H100",
        "capacity_type": "on-demand",
        "max_gpus": None,
        "instance_types": None,
        "labels": None,
        "node_class": None,
        "warm": None,
    }
