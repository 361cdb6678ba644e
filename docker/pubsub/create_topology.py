"""Create the Pub/Sub topics and subscriptions of local development on the emulator.

Run once at `docker compose up` by the `pubsub-init` service (the API gateway image, whose
virtualenv has google-cloud-pubsub), and by the end-to-end tier before it starts the services;
safe to run again: what exists is left as it is.

Mirrors terraform/stack/pubsub.tf: each source topic's subscription dead-letters to
``<topic>-dead-letter`` after the maximum number of delivery attempts, and every dead-letter
topic has a pull subscription of the same name so nothing dead-lettered is lost. The data flow:

* ``healthkit-data-ingestion-ml`` pushes each stored batch to the ML service, which writes the
  insight and announces it on ``insight-generation``;
* ``ml-processing-requests-ml`` pushes requests to analyse a batch again to the ML service;
* ``healthkit-data-ingestion-dead-letter-gateway`` pushes what the ingestion hop dead-letters
  to the gateway, which marks the batch failed;
* ``insight-generation-gateway`` is pulled.

A push subscription is created when its service's base URL is set (``ML_SERVICE_URL``,
``API_GATEWAY_URL``; compose sets both), as a pull subscription otherwise.

Delivery timings, from the environment (defaults are Terraform's):
``PUBSUB_ACK_DEADLINE_SECONDS`` (60; 10 to 600), ``PUBSUB_MAX_DELIVERY_ATTEMPTS`` (5; 5 to
100), ``PUBSUB_MINIMUM_BACKOFF_SECONDS`` (10) and ``PUBSUB_MAXIMUM_BACKOFF_SECONDS`` (600; both
0 to 600). The emulator retries a failed push about every 3 s whatever the backoff says.

Environment: ``PUBSUB_EMULATOR_HOST`` (required: this script refuses to touch a real project),
``GOOGLE_CLOUD_PROJECT``, and the variables above.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1

INGESTION_TOPIC = "healthkit-data-ingestion"


@dataclass(frozen=True)
class Subscription:
    """A subscription, and where it pushes: ``(base URL variable, path)``, or None to pull."""

    name: str
    topic: str
    push: tuple[str, str] | None = None


SOURCE_TOPICS = (INGESTION_TOPIC, "ml-processing-requests", "insight-generation")

SUBSCRIPTIONS = (
    Subscription(
        "healthkit-data-ingestion-ml",
        INGESTION_TOPIC,
        push=("ML_SERVICE_URL", "/v1/pubsub/healthkit-data-ingestion"),
    ),
    Subscription(
        "ml-processing-requests-ml",
        "ml-processing-requests",
        push=("ML_SERVICE_URL", "/v1/pubsub/ml-processing-requests"),
    ),
    Subscription("insight-generation-gateway", "insight-generation"),
)

DEAD_LETTER_PUSHES = (
    Subscription(
        "healthkit-data-ingestion-dead-letter-gateway",
        f"{INGESTION_TOPIC}-dead-letter",
        push=("API_GATEWAY_URL", "/v1/pubsub/ingestion-dead-letters"),
    ),
)
"""Further subscriptions on dead-letter topics: the gateway records the failures."""


@dataclass(frozen=True)
class Timings:
    """How Pub/Sub delivers to the subscriptions (see the module docstring)."""

    ack_deadline_seconds: int = 60
    max_delivery_attempts: int = 5
    minimum_backoff_seconds: float = 10.0
    maximum_backoff_seconds: float = 600.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Timings:
        """Read the ``PUBSUB_*`` variables; ``ValueError`` names a bad one and its range."""
        defaults = cls()
        return cls(
            ack_deadline_seconds=int(
                _number(env, "PUBSUB_ACK_DEADLINE_SECONDS", defaults.ack_deadline_seconds, 10, 600)
            ),
            max_delivery_attempts=int(
                _number(env, "PUBSUB_MAX_DELIVERY_ATTEMPTS", defaults.max_delivery_attempts, 5, 100)
            ),
            minimum_backoff_seconds=_number(
                env, "PUBSUB_MINIMUM_BACKOFF_SECONDS", defaults.minimum_backoff_seconds, 0, 600
            ),
            maximum_backoff_seconds=_number(
                env, "PUBSUB_MAXIMUM_BACKOFF_SECONDS", defaults.maximum_backoff_seconds, 0, 600
            ),
        )

    def retry_policy(self) -> dict[str, object]:
        """The subscription's retry policy (durations in seconds and nanoseconds)."""
        return {
            "minimum_backoff": _duration(self.minimum_backoff_seconds),
            "maximum_backoff": _duration(
                max(self.minimum_backoff_seconds, self.maximum_backoff_seconds)
            ),
        }


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        msg = f"{name}={raw!r}: give a number from {low:g} to {high:g}"
        raise ValueError(msg)
    return value


def _duration(seconds: float) -> dict[str, int]:
    whole = int(seconds)
    return {"seconds": whole, "nanos": round((seconds - whole) * 1e9)}


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}-dead-letter"


def push_endpoint(subscription: Subscription, env: Mapping[str, str]) -> str:
    """Where ``subscription`` pushes, or "" when its service's base URL is not set (pull)."""
    if subscription.push is None:
        return ""
    variable, path = subscription.push
    base = env.get(variable, "").rstrip("/")
    return f"{base}{path}" if base else ""


def create_topology(project: str, env: Mapping[str, str]) -> list[str]:
    """Create every topic and subscription that is missing; return the resource names created."""
    timings = Timings.from_environment(env)
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

    def create_subscription(subscription: Subscription, extra: dict[str, object]) -> None:
        path = subscriber.subscription_path(project, subscription.name)
        request: dict[str, object] = {
            "name": path,
            "topic": publisher.topic_path(project, subscription.topic),
            "ack_deadline_seconds": timings.ack_deadline_seconds,
            **extra,
        }
        endpoint = push_endpoint(subscription, env)
        if endpoint:
            request["push_config"] = {"push_endpoint": endpoint}
        try:
            subscriber.create_subscription(request=request)
            created.append(path)
        except AlreadyExists:
            pass

    with subscriber:
        for topic in SOURCE_TOPICS:
            create_topic(topic)
            dead_letters = create_topic(dead_letter_topic(topic))
            create_subscription(
                Subscription(dead_letter_topic(topic), dead_letter_topic(topic)), {}
            )
            for subscription in (s for s in SUBSCRIPTIONS if s.topic == topic):
                policy = {
                    "dead_letter_topic": dead_letters,
                    "max_delivery_attempts": timings.max_delivery_attempts,
                }
                create_subscription(
                    subscription,
                    {"dead_letter_policy": policy, "retry_policy": timings.retry_policy()},
                )
        for subscription in DEAD_LETTER_PUSHES:
            create_subscription(subscription, {"retry_policy": timings.retry_policy()})
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
    try:
        created = create_topology(project, env)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.write(
        f"pubsub topology ready on {env['PUBSUB_EMULATOR_HOST']} ({len(created)} created)\n"
    )
    for name in created:
        sys.stdout.write(f"  created {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
