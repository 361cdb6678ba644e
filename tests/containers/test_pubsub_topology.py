"""The compose stack's one-shot `pubsub-init` really creates the topology on a Pub/Sub emulator.

It runs exactly as compose runs it: the API gateway image, the docker/pubsub directory mounted
read-only, `python /opt/pubsub-init/create_topology.py`, against Google's Pub/Sub emulator
(started here from the preinstalled google-cloud-cli, stopped by process group).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from tests.support.docker import REPO_ROOT, BuildResult, DockerEngine
from tests.support.processes import ManagedProcess, free_port, wait_for_http

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

PROJECT = "demo-clarity-loop"
# The names of terraform/environments/*/main.tf (module "pubsub").
SUBSCRIPTIONS = {
    "healthkit-data-ingestion": "healthkit-data-ingestion-ml",
    "ml-processing-requests": "ml-processing-requests-ml",
    "insight-generation": "insight-generation-gateway",
}
SOURCE_TOPICS = tuple(SUBSCRIPTIONS)
ML_SERVICE = "http://127.0.0.1:9"
GATEWAY = "http://127.0.0.1:10"
PUSHED = {
    "healthkit-data-ingestion-ml": f"{ML_SERVICE}/v1/pubsub/healthkit-data-ingestion",
    "ml-processing-requests-ml": f"{ML_SERVICE}/v1/pubsub/ml-processing-requests",
    "insight-generation-gateway": "",
}


@pytest.fixture(scope="module")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Pub/Sub emulator on a free port; yields its host:port."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.fail("gcloud not found: install google-cloud-cli with the Pub/Sub emulator")
    port = free_port()
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    emulator = ManagedProcess(
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--project={PROJECT}",
        ],
        log_path=log,
    ).start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=60.0, ok=lambda r: r.status_code == 200)
        yield f"127.0.0.1:{port}"
    finally:
        emulator.stop()


def _run_init(docker_engine: DockerEngine, image: str, emulator: str) -> str:
    return docker_engine.run(
        "run",
        "--rm",
        "--network=host",
        "--volume",
        f"{REPO_ROOT / 'docker' / 'pubsub'}:/opt/pubsub-init:ro",
        "--env",
        f"PUBSUB_EMULATOR_HOST={emulator}",
        "--env",
        f"GOOGLE_CLOUD_PROJECT={PROJECT}",
        "--env",
        f"ML_SERVICE_URL={ML_SERVICE}",
        "--env",
        f"API_GATEWAY_URL={GATEWAY}",
        image,
        "python",
        "/opt/pubsub-init/create_topology.py",
    ).stdout


def test_init_creates_topics_subscriptions_and_dead_letters(
    docker_engine: DockerEngine,
    service_images: dict[str, BuildResult],
    pubsub_emulator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = service_images["api-gateway"].tag
    first = _run_init(docker_engine, image, pubsub_emulator)
    assert "(13 created)" in first, first
    again = _run_init(docker_engine, image, pubsub_emulator)
    assert "(0 created)" in again, "a second run must change nothing"

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    publisher = PublisherClient()
    subscriber = SubscriberClient()
    with subscriber:
        topics = {
            t.name.rsplit("/", 1)[1]
            for t in publisher.list_topics(request={"project": f"projects/{PROJECT}"})
        }
        assert topics == {*SOURCE_TOPICS, *(f"{t}-dead-letter" for t in SOURCE_TOPICS)}
        for topic, name in SUBSCRIPTIONS.items():
            subscription = subscriber.get_subscription(
                request={"subscription": subscriber.subscription_path(PROJECT, name)}
            )
            assert subscription.topic == publisher.topic_path(PROJECT, topic)
            policy = subscription.dead_letter_policy
            assert policy.dead_letter_topic == publisher.topic_path(PROJECT, f"{topic}-dead-letter")
            assert policy.max_delivery_attempts == 5
            assert subscription.push_config.push_endpoint == PUSHED[name]

            dead_letters = subscriber.get_subscription(
                request={
                    "subscription": subscriber.subscription_path(PROJECT, f"{topic}-dead-letter")
                }
            )
            assert dead_letters.topic == publisher.topic_path(PROJECT, f"{topic}-dead-letter")
            assert not dead_letters.push_config.push_endpoint
        failures = subscriber.get_subscription(
            request={
                "subscription": subscriber.subscription_path(
                    PROJECT, "healthkit-data-ingestion-dead-letter-gateway"
                )
            }
        )
        assert failures.topic == publisher.topic_path(
            PROJECT, "healthkit-data-ingestion-dead-letter"
        )
        assert failures.push_config.push_endpoint == f"{GATEWAY}/v1/pubsub/ingestion-dead-letters"
        assert not failures.dead_letter_policy.dead_letter_topic


def test_init_refuses_to_run_without_an_emulator(
    docker_engine: DockerEngine, service_images: dict[str, BuildResult]
) -> None:
    result = docker_engine.run(
        "run",
        "--rm",
        "--network=none",
        "--volume",
        f"{Path(REPO_ROOT / 'docker' / 'pubsub')}:/opt/pubsub-init:ro",
        service_images["api-gateway"].tag,
        "python",
        "/opt/pubsub-init/create_topology.py",
        check=False,
    )
    assert result.returncode == 2
    assert "PUBSUB_EMULATOR_HOST is not set" in result.stderr
