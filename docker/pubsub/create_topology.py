"""Create the Pub/Sub topics and subscriptions of local development on the emulator.

Run once at `docker compose up` by the `pubsub-init` service (the API gateway image, whose
virtualenv has google-cloud-pubsub); safe to run again: what exists is left as it is.

Mirrors the Terraform pubsub module and the environments' topics: each subscription
dead-letters to ``<topic>-dead-letter`` after ``MAX_DELIVERY_ATTEMPTS``, and every
dead-letter topic has a pull subscription of the same name so nothing dead-lettered is lost.
``ml-processing-requests-ml`` is pushed to the ML service when ``ML_PUSH_ENDPOINT`` is set
(compose sets it), pulled otherwise; the other subscriptions are pulled.

Environment: ``PUBSUB_EMULATOR_HOST`` (required: this script refuses to touch a real
project), ``GOOGLE_CLOUD_PROJECT``, ``ML_PUSH_ENDPOINT`` (optional).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1

MAX_DELIVERY_ATTEMPTS = 5
ACK_DEADLINE_SECONDS = 60


@dataclass(frozen=True)
class Stream:
    """A source topic, its subscription and where that subscription delivers."""

    topic: str
    subscription: str
    push_endpoint_env: str | None = None


STREAMS = (
    Stream("healthkit-data-ingestion", "healthkit-data-ingestion-ml"),
    Stream(
        "ml-processing-requests", "ml-processing-requests-ml", push_endpoint_env="ML_PUSH_ENDPOINT"
    ),
    Stream("insight-generation", "insight-generation-gateway"),
)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}-dead-letter"


def create_topology(project: str, env: dict[str, str]) -> list[str]:
    """Create every topic and subscription that is missing; return the resource names created."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    created: list[str] = []

    def create_topic(name: str) -> str:
        path: str = publisher.topic_path(project, name)
        try:
            publisher.create_topic(request={"name": path})
            created.append(path)
        except AlreadyExists:
            pass
        return path

    def create_subscription(name: str, topic_path: str, extra: dict[str, object]) -> None:
        path = subscriber.subscription_path(project, name)
        request = {
            "name": path,
            "topic": topic_path,
            "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
            **extra,
        }
        try:
            subscriber.create_subscription(request=request)
            created.append(path)
        except AlreadyExists:
            pass

    with subscriber:
        for stream in STREAMS:
            topic_path = create_topic(stream.topic)
            dead_letter_path = create_topic(dead_letter_topic(stream.topic))
            extra: dict[str, object] = {
                "dead_letter_policy": {
                    "dead_letter_topic": dead_letter_path,
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                }
            }
            endpoint = env.get(stream.push_endpoint_env, "") if stream.push_endpoint_env else ""
            if endpoint:
                extra["push_config"] = {"push_endpoint": endpoint}
            create_subscription(stream.subscription, topic_path, extra)
            create_subscription(dead_letter_topic(stream.topic), dead_letter_path, {})
    return created


def main() -> int:
    """Create the topology on the emulator named by ``PUBSUB_EMULATOR_HOST``."""
    env = dict(os.environ)
    if not env.get("PUBSUB_EMULATOR_HOST"):
        sys.stderr.write(
            "PUBSUB_EMULATOR_HOST is not set: this script only provisions the emulator.\n"
        )
        return 2
    project = env.get("GOOGLE_CLOUD_PROJECT", "clarity-loop-local")
    created = create_topology(project, env)
    sys.stdout.write(
        f"pubsub topology ready on {env['PUBSUB_EMULATOR_HOST']} ({len(created)} created)\n"
    )
    for name in created:
        sys.stdout.write(f"  created {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
