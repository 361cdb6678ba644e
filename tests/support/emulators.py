"""Google's Firestore and Pub/Sub emulators, started for a test session and stopped by group.

``gcloud emulators firestore start`` and ``gcloud beta emulators pubsub start`` run a Python
wrapper that forks Java; both go through :class:`ManagedProcess`, so stopping kills the whole
process group. Each emulator gets a free port and its own log file; a failure to start says
why and shows the log tail.

The helpers speak the emulators' REST APIs with httpx, so they need no environment variables
and work the same for every test tier. One emulator pair serves many projects: give each test
its own project id (see :meth:`Emulators.for_project`) and tests cannot see each other's data.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ManagedProcess, free_port

__all__ = [
    "DEFAULT_PROJECT",
    "EmulatedProject",
    "EmulatorError",
    "Emulators",
    "PulledMessage",
    "start_emulators",
]

DEFAULT_PROJECT = "clarity-test"
_GCLOUD_HINT = (
    "install the Google Cloud CLI with both emulators "
    "(apt-get install google-cloud-cli google-cloud-cli-firestore-emulator "
    "google-cloud-cli-pubsub-emulator, plus a Java 17 runtime)"
)
# The emulators accept any token; this one lets Firestore REST calls bypass security rules.
_OWNER = {"Authorization": "Bearer owner"}


class EmulatorError(RuntimeError):
    """An emulator could not be started or did not answer."""


@dataclass(frozen=True)
class PulledMessage:
    """A message pulled (and acknowledged) from a Pub/Sub subscription."""

    message_id: str
    data: bytes
    attributes: Mapping[str, str]

    def json(self) -> Any:
        """The data decoded as JSON."""
        return json.loads(self.data)


@dataclass(frozen=True)
class Emulators:
    """Where the running emulators listen, and helpers bound to a project."""

    firestore_host: str
    pubsub_host: str
    project: str = DEFAULT_PROJECT

    def env(self, project: str | None = None) -> dict[str, str]:
        """The variables a process needs to use these emulators (and ``project``)."""
        return {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "GOOGLE_CLOUD_PROJECT": project or self.project,
        }

    def for_project(self, project: str | None = None) -> EmulatedProject:
        """Helpers for ``project`` (a fresh unique id when omitted)."""
        return EmulatedProject(self, project or f"test-{uuid.uuid4().hex[:12]}")


@dataclass
class EmulatedProject:
    """One project on the emulators: Firestore reset, topics, subscriptions, pulls, reads."""

    emulators: Emulators
    project: str
    _subscriptions: list[str] = field(default_factory=list, repr=False)
    _topics: list[str] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ environment
    def env(self) -> dict[str, str]:
        """``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST`` and ``GOOGLE_CLOUD_PROJECT``."""
        return self.emulators.env(self.project)

    # ------------------------------------------------------------------ Firestore
    @property
    def _documents_url(self) -> str:
        return (
            f"http://{self.emulators.firestore_host}/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )

    def reset_firestore(self) -> None:
        """Delete every document of this project (the emulator's reset endpoint)."""
        url = (
            f"http://{self.emulators.firestore_host}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        httpx.delete(url, timeout=10.0).raise_for_status()

    def collection_ids(self) -> list[str]:
        """Top-level collections that hold at least one document."""
        response = httpx.post(
            f"{self._documents_url}:listCollectionIds", json={}, headers=_OWNER, timeout=10.0
        )
        response.raise_for_status()
        ids: list[str] = response.json().get("collectionIds", [])
        return sorted(ids)

    def documents(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every document of ``collection`` as ``{id: fields}`` (timestamps as RFC 3339 strings)."""
        found: dict[str, dict[str, Any]] = {}
        page_token = ""
        while True:
            params = {"pageSize": "300", **({"pageToken": page_token} if page_token else {})}
            response = httpx.get(
                f"{self._documents_url}/{collection}", params=params, headers=_OWNER, timeout=10.0
            )
            response.raise_for_status()
            body = response.json()
            for document in body.get("documents", []):
                doc_id = document["name"].rsplit("/", 1)[-1]
                found[doc_id] = {
                    key: _decode_value(value) for key, value in document.get("fields", {}).items()
                }
            page_token = body.get("nextPageToken", "")
            if not page_token:
                return found

    # ------------------------------------------------------------------ Pub/Sub
    def _pubsub(self, path: str) -> str:
        return f"http://{self.emulators.pubsub_host}/v1/projects/{self.project}/{path}"

    def topic_path(self, topic: str) -> str:
        """``projects/<project>/topics/<topic>``."""
        return f"projects/{self.project}/topics/{topic}"

    def create_topic(self, topic: str) -> str:
        """Create ``topic``; return its full path."""
        httpx.put(self._pubsub(f"topics/{topic}"), timeout=10.0).raise_for_status()
        self._topics.append(topic)
        return self.topic_path(topic)

    def create_subscription(
        self,
        name: str,
        *,
        topic: str,
        push_endpoint: str | None = None,
        dead_letter_topic: str | None = None,
        max_delivery_attempts: int = 5,
        ack_deadline_seconds: int = 10,
        minimum_backoff_seconds: float = 1.0,
        maximum_backoff_seconds: float = 2.0,
    ) -> str:
        """Create a pull subscription, or a push one when ``push_endpoint`` is given."""
        body: dict[str, Any] = {
            "topic": self.topic_path(topic),
            "ackDeadlineSeconds": ack_deadline_seconds,
            "retryPolicy": {
                "minimumBackoff": f"{minimum_backoff_seconds}s",
                "maximumBackoff": f"{maximum_backoff_seconds}s",
            },
        }
        if push_endpoint is not None:
            body["pushConfig"] = {"pushEndpoint": push_endpoint}
        if dead_letter_topic is not None:
            body["deadLetterPolicy"] = {
                "deadLetterTopic": self.topic_path(dead_letter_topic),
                "maxDeliveryAttempts": max_delivery_attempts,
            }
        httpx.put(self._pubsub(f"subscriptions/{name}"), json=body, timeout=10.0).raise_for_status()
        self._subscriptions.append(name)
        return f"projects/{self.project}/subscriptions/{name}"

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish one message; return its id."""
        message = {"data": base64.b64encode(data).decode(), "attributes": attributes}
        response = httpx.post(
            self._pubsub(f"topics/{topic}:publish"), json={"messages": [message]}, timeout=10.0
        )
        response.raise_for_status()
        message_id: str = response.json()["messageIds"][0]
        return message_id

    def pull(self, subscription: str, *, max_messages: int = 100) -> list[PulledMessage]:
        """Pull what is available now (without waiting) and acknowledge it."""
        response = httpx.post(
            self._pubsub(f"subscriptions/{subscription}:pull"),
            json={"maxMessages": max_messages, "returnImmediately": True},
            timeout=10.0,
        )
        response.raise_for_status()
        received = response.json().get("receivedMessages", [])
        if received:
            ack = {"ackIds": [item["ackId"] for item in received]}
            httpx.post(
                self._pubsub(f"subscriptions/{subscription}:acknowledge"), json=ack, timeout=10.0
            ).raise_for_status()
        return [
            PulledMessage(
                message_id=item["message"]["messageId"],
                data=base64.b64decode(item["message"].get("data", "")),
                attributes=item["message"].get("attributes", {}),
            )
            for item in received
        ]

    def wait_for_messages(
        self, subscription: str, *, count: int = 1, timeout: float = 30.0
    ) -> list[PulledMessage]:
        """Pull until ``count`` messages arrived; ``TimeoutError`` says how many did."""
        messages: list[PulledMessage] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages.extend(self.pull(subscription))
            if len(messages) >= count:
                return messages
            time.sleep(0.2)
        msg = (
            f"{len(messages)} of {count} message(s) arrived on {subscription} within {timeout:.0f}s"
        )
        raise TimeoutError(msg)

    def cleanup(self) -> None:
        """Delete the subscriptions and topics created here, then every Firestore document."""
        for name in reversed(self._subscriptions):
            httpx.delete(self._pubsub(f"subscriptions/{name}"), timeout=10.0)
        for topic in reversed(self._topics):
            httpx.delete(self._pubsub(f"topics/{topic}"), timeout=10.0)
        self._subscriptions.clear()
        self._topics.clear()
        self.reset_firestore()


def _decode_value(value: Mapping[str, Any]) -> Any:
    """Decode a Firestore REST ``Value`` into plain Python."""
    kind, content = next(iter(value.items()))
    if kind == "integerValue":
        return int(content)
    if kind == "nullValue":
        return None
    if kind == "mapValue":
        return {key: _decode_value(item) for key, item in content.get("fields", {}).items()}
    if kind == "arrayValue":
        return [_decode_value(item) for item in content.get("values", [])]
    return content


# ---------------------------------------------------------------------- starting them
def _emulator_env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_EMULATOR_HOST")}
    # A private gcloud configuration: parallel sessions never share state or prompts.
    env["CLOUDSDK_CONFIG"] = str(workdir / "gcloud-config")
    env["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1"
    return env


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _wait_until_ready(process: ManagedProcess, name: str, host: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            msg = f"the {name} emulator exited with code {code} before it answered; log tail:\n{process.log_tail()}"
            raise EmulatorError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{host}/", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    msg = f"the {name} emulator did not answer on {host} in time; log tail:\n{process.log_tail()}"
    raise EmulatorError(msg)


@contextlib.contextmanager
def start_emulators(
    workdir: Path, *, timeout: float = 90.0, project: str = DEFAULT_PROJECT
) -> Iterator[Emulators]:
    """Start both emulators on free ports, wait until they answer, stop them on exit."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        msg = f"gcloud is not on PATH, so the Firestore and Pub/Sub emulators cannot start: {_GCLOUD_HINT}"
        raise EmulatorError(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pubsub-data").mkdir(exist_ok=True)
    env = _emulator_env(workdir)
    firestore_port, pubsub_port = _distinct_ports(2)
    firestore_host, pubsub_host = f"127.0.0.1:{firestore_port}", f"127.0.0.1:{pubsub_port}"
    firestore = ManagedProcess(
        [gcloud, "emulators", "firestore", "start", f"--host-port={firestore_host}"],
        env=env,
        log_path=workdir / "firestore.log",
    )
    pubsub = ManagedProcess(
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={pubsub_host}",
            f"--data-dir={workdir / 'pubsub-data'}",
        ],
        env=env,
        log_path=workdir / "pubsub.log",
    )
    try:
        firestore.start()
        pubsub.start()
        deadline = time.monotonic() + timeout
        _wait_until_ready(firestore, "Firestore", firestore_host, deadline)
        _wait_until_ready(pubsub, "Pub/Sub", pubsub_host, deadline)
        yield Emulators(firestore_host=firestore_host, pubsub_host=pubsub_host, project=project)
    finally:
        pubsub.stop()
        firestore.stop()
