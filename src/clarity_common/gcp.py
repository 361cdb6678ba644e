"""Firestore and Pub/Sub clients, created on first use, and the mapping of their errors.

Nothing here runs at import or at startup: ``/health`` must answer even when no Google
credentials and no emulators exist.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from google.api_core.exceptions import GoogleAPIError
from google.api_core.retry import Retry, if_transient_error
from google.auth.exceptions import GoogleAuthError
from google.cloud import firestore
from google.cloud.pubsub_v1 import PublisherClient

from clarity_common.errors import BackendUnavailableError
from clarity_common.settings import ServiceSettings

__all__ = ["GoogleClients", "describe_error", "unavailable_on_google_errors"]

_GOOGLE_ERRORS = (GoogleAPIError, GoogleAuthError, FutureTimeoutError, TimeoutError)


def describe_error(error: BaseException) -> str:
    """A one-line, bounded description of a library error for a 503 reason."""
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def unavailable_on_google_errors(what: str) -> Iterator[None]:
    """Turn Google client, auth and timeout errors into :class:`BackendUnavailableError`."""
    try:
        yield
    except _GOOGLE_ERRORS as exc:
        msg = f"{what}: {describe_error(exc)}"
        raise BackendUnavailableError(msg) from exc


class GoogleClients:
    """Lazily created, thread-safe Firestore and Pub/Sub publisher clients for one service."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._firestore: firestore.Client | None = None
        self._publisher: PublisherClient | None = None

    @property
    def project(self) -> str:
        """The Google Cloud project every resource belongs to."""
        return self._settings.google_cloud_project

    def firestore_call(self) -> dict[str, Any]:
        """``retry`` and ``timeout`` for one Firestore call, bounded by ``FIRESTORE_TIMEOUT_SECONDS``.

        The library defaults retry an unreachable server for a minute; a request must fail
        within seconds instead.
        """
        seconds = self._settings.firestore_timeout_seconds
        retry = Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, timeout=seconds)
        return {"retry": retry, "timeout": seconds}

    @property
    def publish_timeout_seconds(self) -> float:
        """How long one publish may take before it counts as failed."""
        return self._settings.publish_timeout_seconds

    def firestore(self) -> firestore.Client:
        """The Firestore client, created on first call (:class:`BackendUnavailableError` if not)."""
        with self._lock:
            if self._firestore is None:
                with unavailable_on_google_errors("cannot create a Firestore client"):
                    self._firestore = firestore.Client(project=self.project)
            return self._firestore

    def publisher(self) -> PublisherClient:
        """The Pub/Sub publisher, made on first call (:class:`BackendUnavailableError` if not)."""
        with self._lock:
            if self._publisher is None:
                with unavailable_on_google_errors("cannot create a Pub/Sub publisher"):
                    self._publisher = PublisherClient()
            return self._publisher

    def publish(
        self, topic: str, payload: Mapping[str, Any], *, attributes: Mapping[str, str]
    ) -> str:
        """Publish one JSON message and return its id (:class:`BackendUnavailableError` if not)."""
        timeout = self._settings.publish_timeout_seconds
        data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        with unavailable_on_google_errors(f"cannot publish to Pub/Sub topic {topic!r}"):
            publisher = self.publisher()
            # Bounded retries: the library default keeps retrying for ten minutes in the background.
            retry = Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, timeout=timeout)
            future = publisher.publish(
                publisher.topic_path(self.project, topic),
                data,
                retry=retry,
                timeout=timeout,
                **attributes,
            )
            message_id: str = future.result(timeout=timeout)
        return message_id

    def close(self) -> None:
        """Flush and close whatever was created."""
        with self._lock:
            if self._publisher is not None:
                self._publisher.stop()
                self._publisher = None
            # The Firestore client has no public way to close its gRPC channel; dropping the
            # client lets the channel close when it is collected.
            self._firestore = None
