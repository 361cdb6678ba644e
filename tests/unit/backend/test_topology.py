"""The topology script's settings: where it pushes, and the delivery timings it accepts.

Creating the topology on the emulator is the e2e tier's (tests/support/stack.py runs the
script) and, in the API gateway image, the container tier's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[3] / "docker" / "pubsub" / "create_topology.py"


@pytest.fixture(scope="module")
def topology() -> ModuleType:
    spec = importlib.util.spec_from_file_location("create_topology", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["create_topology"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def test_pushes_follow_the_services_base_urls(topology: ModuleType) -> None:
    env = {"ML_SERVICE_URL": "http://ml-service:8080/", "API_GATEWAY_URL": "http://gw:8080"}
    endpoints = {
        s.name: topology.push_endpoint(s, env)
        for s in (*topology.SUBSCRIPTIONS, *topology.DEAD_LETTER_PUSHES)
    }
    assert endpoints == {
        "healthkit-data-ingestion-ml": "http://ml-service:8080/v1/pubsub/healthkit-data-ingestion",
        "ml-processing-requests-ml": "http://ml-service:8080/v1/pubsub/ml-processing-requests",
        "insight-generation-gateway": "",
        "healthkit-data-ingestion-dead-letter-gateway": (
            "http://gw:8080/v1/pubsub/ingestion-dead-letters"
        ),
    }
    unset = {s.name: topology.push_endpoint(s, {}) for s in topology.SUBSCRIPTIONS}
    assert set(unset.values()) == {""}  # pulled where no base URL is given


def test_timings_default_to_terraforms_and_read_the_environment(topology: ModuleType) -> None:
    defaults = topology.Timings.from_environment({})
    assert (defaults.ack_deadline_seconds, defaults.max_delivery_attempts) == (60, 5)
    fast = topology.Timings.from_environment(
        {
            "PUBSUB_ACK_DEADLINE_SECONDS": "10",
            "PUBSUB_MINIMUM_BACKOFF_SECONDS": "0.5",
            "PUBSUB_MAXIMUM_BACKOFF_SECONDS": "0",
        }
    )
    assert fast.ack_deadline_seconds == 10
    # A maximum below the minimum is raised to it rather than refused by Pub/Sub.
    assert fast.retry_policy() == {
        "minimum_backoff": {"seconds": 0, "nanos": 500_000_000},
        "maximum_backoff": {"seconds": 0, "nanos": 500_000_000},
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PUBSUB_MAX_DELIVERY_ATTEMPTS", "4", "give a number from 5 to 100"),
        ("PUBSUB_ACK_DEADLINE_SECONDS", "601", "give a number from 10 to 600"),
        ("PUBSUB_MINIMUM_BACKOFF_SECONDS", "soon", "give a number from 0 to 600"),
    ],
)
def test_a_bad_timing_names_the_variable_and_its_range(
    topology: ModuleType, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{variable}='{value}': {message}$"):
        topology.Timings.from_environment({variable: value})
