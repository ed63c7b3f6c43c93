from __future__ import annotations

import pytest
from pydantic import ValidationError

from iac.spec.autoscaling import Autoscaling
from iac.spec.container import Resources
from iac.spec.types import format_duration, parse_accelerator, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("0", 0)],
)
def test_parse_duration(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "1.5m", "m", "-5", True, 1.5, "15 minutes"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "90s"), (900, "15m"), (3600, "1h"), (5400, "1h30m"), (0, "0s")]
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_duration_fields_take_text_and_keep_seconds() -> None:
    scaling = Autoscaling.model_validate({"scale_down_delay": "15m", "autoscaling_window": "2m"})
    assert scaling.scale_down_delay == 900
    assert scaling.autoscaling_window == 120


def test_duration_range_message() -> None:
    with pytest.raises(ValidationError) as info:
        Autoscaling.model_validate({"scale_down_delay": "2h"})
    assert info.value.errors()[0]["msg"] == "2h is out of range; use 0s to 1h"


@pytest.mark.parametrize(
    ("written", "normalized", "parsed"),
    [("H100", "H100", ("H100", 1)), ("H100:1", "H100", ("H100", 1)),
     ("H100:2", "H100:2", ("H100", 2)),
     ("H100_40GB", "H100_40GB", ("H100_40GB", 1))],
)  # fmt: skip
def test_accelerator_normalized(written: str, normalized: str, parsed: tuple[str, int]) -> None:
    resources = Resources.model_validate({"accelerator": written})
    assert resources.accelerator == normalized
    assert parse_accelerator(normalized) == parsed


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("h100", "unknown accelerator 'h100'; did you mean 'H100'?"),
        ("H100:0", "'H100:0': the count after ':' must be a whole number of at least 1"),
        ("H100:x", "'H100:x': the count after ':' must be a whole number of at least 1"),
        ("H100:16", "'H100:16': at most 8 H100 fit on one node"),
    ],
)
def test_accelerator_rejected(written: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Resources.model_validate({"accelerator": written})
    assert info.value.errors()[0]["msg"].startswith(message)


def test_cpu_and_memory_take_numbers_and_units() -> None:
    resources = Resources.model_validate({"cpu": 8, "memory": "64Gi"})
    assert (resources.cpu, resources.memory) == ("8", "64Gi")
    resources = Resources.model_validate({"cpu": "500m", "memory": "512Mi"})
    assert (resources.cpu, resources.memory) == ("500m", "512Mi")
    with pytest.raises(ValidationError, match="'64GB' is not a memory quantity"):
        Resources.model_validate({"memory": "64GB"})


def test_unset_fields_are_not_in_fields_set() -> None:
    """The loader layers levels by `model_fields_set`; a default must not count as set."""
    scaling = Autoscaling.model_validate({"min_replicas": 2})
    assert scaling.model_fields_set == {"min_replicas"}
    assert scaling.model_dump(exclude_unset=True) == {"min_replicas": 2}


def test_target_per_replica() -> None:
    assert Autoscaling(concurrency_target=10, target_utilization=70).target_per_replica == 7
