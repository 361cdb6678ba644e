"""Long-running operations: what every write returns and the client polls.

An operation renders as ``google.longrunning.Operation`` JSON: its ``metadata`` and
``response`` are ``Any`` messages (``@type: type.googleapis.com/google.cloud.run.v2.Service``),
its ``error`` a ``google.rpc.Status`` with a gRPC code.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from google.longrunning import operations_pb2

from ._errors import ApiError
from ._state import to_json

__all__ = ["Operation", "OperationStore"]


@dataclass
class Operation:
    name: str
    metadata: Any
    done: bool = False
    response: Any = None
    error: ApiError | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def finish(self, *, response: Any = None, error: ApiError | None = None) -> None:
        self.response, self.error, self.done = response, error, True
        self.finished.set()

    def to_json(self) -> dict[str, Any]:
        pb = operations_pb2.Operation(name=self.name, done=self.done)
        pb.metadata.Pack(self.metadata)
        if self.error is not None:
            pb.error.code = self.error.rpc_status()["code"]
            pb.error.message = self.error.message
        elif self.response is not None:
            pb.response.Pack(self.response)
        return to_json(pb)


class OperationStore:
    """Operations by name, kept for the double's lifetime (until DeleteOperation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, Operation] = {}

    def start(self, parent: str, metadata: Any) -> Operation:
        """A new pending operation under ``parent``, pollable by name."""
        operation = Operation(name=f"{parent}/operations/{uuid.uuid4()}", metadata=metadata)
        with self._lock:
            self._operations[operation.name] = operation
        return operation

    @staticmethod
    def already_done(parent: str, response: Any) -> Operation:
        """A finished operation that is never stored (what ``validateOnly`` answers)."""
        operation = Operation(name=f"{parent}/operations/{uuid.uuid4()}", metadata=response)
        operation.finish(response=response)
        return operation

    def get(self, name: str) -> Operation:
        with self._lock:
            operation = self._operations.get(name)
        if operation is None:
            raise ApiError.not_found(name)
        return operation

    def list_json(self, parent: str) -> list[dict[str, Any]]:
        prefix = parent + "/operations/"
        with self._lock:
            return [op.to_json() for key, op in self._operations.items() if key.startswith(prefix)]

    def forget(self, name: str) -> None:
        with self._lock:
            self._operations.pop(name, None)
