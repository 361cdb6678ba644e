"""The Cloud Run seam (:class:`~clarity_delivery._cloudrun.CloudRunApi`) call by call, against
a scripted Admin API on localhost.

The Cloud Run double answers like Cloud Run and runs revisions; it is what the rollout tests use.
Here each test scripts the exact answers a rule of the seam is about (a 409 whose body says
``ABORTED`` or ``ALREADY_EXISTS``, an operation that finished with an error, a server without
``WaitOperation``, pages in no particular order) and reads back every request the seam sent: the
GAPIC REST client and the seam run unchanged, over HTTP, and nothing waits (the seam's sleeps
are recorded, not slept).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from clarity_delivery._cloudrun import CloudRunApi, RetryNotice, RetryPolicy, ServicePath
from clarity_delivery._errors import (
    ConcurrentRollout,
    ConfigError,
    OperationFailed,
    PermissionDenied,
    RevisionNameTaken,
    ServiceUnreachable,
)
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import json_format, timestamp_pb2

from tests.doubles._http import JsonHandler

pytestmark = pytest.mark.timeout(30)

PATH = ServicePath("p", "r", "svc")
SERVICE = f"/v2/{PATH}"
OPERATION = "projects/p/locations/r/operations/op-1"
_CONDITION = run_v2.Condition.State


@dataclass(frozen=True)
class Seen:
    """One request the seam sent."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]


Answer = tuple[int, dict[str, Any]]


@dataclass
class Script:
    """The scripted Admin API: per route (method and path), answers given in turn (the last one
    again once they run out); every request kept in :attr:`seen`."""

    routes: list[tuple[str, re.Pattern[str], list[Answer]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes.append((method, re.compile(re.escape(path)), list(answers)))

    def answer(self, method: str, url: str, raw: bytes) -> Answer:
        parts = urlsplit(url)
        with self.lock:
            self.seen.append(
                Seen(method, parts.path, parse_qs(parts.query), json.loads(raw or b"{}"))
            )
            for verb, pattern, answers in self.routes:
                if verb == method and pattern.fullmatch(parts.path):
                    return answers.pop(0) if len(answers) > 1 else answers[0]
        return error(404, "NOT_FOUND", f"unscripted: {method} {parts.path}")

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]


class _Handler(JsonHandler):
    script: Script

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        status, payload = self.script.answer(self.command, self.path, raw)
        self.reply_json(status, payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server calls it so
        self._serve()

    def do_POST(self) -> None:  # noqa: N802 - http.server calls it so
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802 - http.server calls it so
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802 - http.server calls it so
        self._serve()


@dataclass
class Seam:
    api: CloudRunApi
    script: Script
    slept: list[float]
    notices: list[RetryNotice]
    endpoint: str

    def run(self, call: Callable[[], Any]) -> Any:
        async def main() -> Any:
            return await call()

        return anyio.run(main)


@pytest.fixture
def seam() -> Iterator[Seam]:
    script = Script()
    handler = type("Handler", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    options = ClientOptions(api_endpoint=endpoint)
    credentials = AnonymousCredentials()
    slept: list[float] = []
    api = CloudRunApi(
        run_v2.ServicesClient(transport="rest", credentials=credentials, client_options=options),
        run_v2.RevisionsClient(transport="rest", credentials=credentials, client_options=options),
        retry=RetryPolicy(attempts=3, initial=0.5, maximum=8.0, multiplier=2.0),
        sleep=slept.append,
    )
    notices: list[RetryNotice] = []
    api.on_retry = notices.append
    try:
        yield Seam(api, script, slept, notices, endpoint)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def service(
    etag: str = "e1", *, labels: dict[str, str] | None = None, reconciling: bool = False
) -> run_v2.Service:
    svc = run_v2.Service(name=str(PATH), etag=etag, reconciling=reconciling)
    svc.labels.update(labels or {})
    return svc


def as_json(message: run_v2.Service | run_v2.Revision) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(type(message).to_json(message))
    return result


def operation(
    *, done: bool, response: run_v2.Service | None = None, code: int = 0, message: str = ""
) -> dict[str, Any]:
    pb = operations_pb2.Operation(name=OPERATION, done=done)
    if response is not None:
        pb.response.Pack(run_v2.Service.pb(response))
    if code:
        pb.error.code, pb.error.message = code, message
    result: dict[str, Any] = json_format.MessageToDict(pb)
    return result


def error(code: int, status: str, message: str) -> Answer:
    return code, {"error": {"code": code, "status": status, "message": message}}


def revision(name: str, created: int | None) -> dict[str, Any]:
    rev = run_v2.Revision(name=f"{PATH}/revisions/{name}")
    if created is not None:
        rev.create_time = timestamp_pb2.Timestamp(seconds=created)
    return as_json(rev)


class Label:
    """A change of one label, as a rollout's changes are made: the fields it writes, the change
    on the base service, whether it landed, and why a moved etag is a conflict (``owned``: the
    label whose move is one)."""

    fields = ("labels",)

    def __init__(self, owned: str | None = None) -> None:
        self.owned = owned

    def apply(self, base: run_v2.Service) -> run_v2.Service:
        new: run_v2.Service = run_v2.Service.deserialize(run_v2.Service.serialize(base))
        new.labels["release"] = "1-1-0"
        return new

    def landed(self, fresh: run_v2.Service) -> bool:
        return fresh.labels.get("release") == "1-1-0"

    def conflict(self, base: run_v2.Service, fresh: run_v2.Service) -> str | None:
        if self.owned and base.labels.get(self.owned) != fresh.labels.get(self.owned):
            return f"someone else changed {self.owned}"
        return None


def update(seam: Seam, change: Label | None = None, timeout: float = 60.0) -> run_v2.Service:
    change = change or Label()
    result: run_v2.Service = seam.run(
        lambda: seam.api.update_service(PATH, service(), change, timeout=timeout)
    )
    return result


# ------------------------------------------------------------------ reads


def test_a_read_is_one_get_of_the_service_by_its_full_name(seam: Seam) -> None:
    seam.script.on("GET", SERVICE, (200, as_json(service("abc"))))
    found = seam.run(lambda: seam.api.get_service(PATH))
    assert (found.name, found.etag) == (str(PATH), "abc")
    assert [s.path for s in seam.script.seen] == [SERVICE]
    assert seam.slept == []


def test_revisions_come_newest_first_whatever_order_the_pages_have(seam: Seam) -> None:
    first = {"revisions": [revision("b", 200), revision("a", 100)], "nextPageToken": "t2"}
    second = {"revisions": [revision("d", 400), revision("undated", None), revision("c", 300)]}
    seam.script.on("GET", f"{SERVICE}/revisions", (200, first), (200, second))
    found = seam.run(lambda: seam.api.list_revisions(PATH))
    assert [r.name.rsplit("/", 1)[-1] for r in found] == ["d", "c", "b", "a", "undated"]
    pages = seam.script.calls("GET", f"{SERVICE}/revisions")
    assert [p.query.get("pageToken") for p in pages] == [None, ["t2"]]


def test_one_revision_is_read_by_its_full_name(seam: Seam) -> None:
    seam.script.on("GET", f"{SERVICE}/revisions/svc-1", (200, revision("svc-1", 100)))
    found = seam.run(lambda: seam.api.get_revision(PATH, "svc-1"))
    assert found.name == f"{PATH}/revisions/svc-1"


def test_a_transient_failure_is_retried_with_backoff_and_each_retry_reported(seam: Seam) -> None:
    seam.script.on(
        "GET",
        SERVICE,
        error(503, "UNAVAILABLE", "try later"),
        error(429, "RESOURCE_EXHAUSTED", "slow down"),
        (200, as_json(service())),
    )
    assert seam.run(lambda: seam.api.get_service(PATH)).etag == "e1"
    assert len(seam.script.seen) == 3
    # Jittered exponential backoff: 0.5 s then 1 s, each within ±20 %.
    assert len(seam.slept) == 2
    assert 0.4 <= seam.slept[0] <= 0.6
    assert 0.8 <= seam.slept[1] <= 1.2
    assert [(n.attempt, n.attempts, n.what) for n in seam.notices] == [
        (1, 3, "read service svc"),
        (2, 3, "read service svc"),
    ]
    assert seam.notices[0].error == "503 try later"
    assert [n.wait_seconds for n in seam.notices] == seam.slept


def test_retries_that_run_out_say_how_many_attempts_were_made(seam: Seam) -> None:
    seam.script.on("GET", SERVICE, error(503, "UNAVAILABLE", "down"))
    with pytest.raises(ServiceUnreachable) as failed:
        seam.run(lambda: seam.api.get_service(PATH))
    assert failed.value.cause.startswith(
        "could not read service svc: the Cloud Run Admin API did not answer after 3 attempts"
    )
    assert len(seam.script.seen) == 3


@pytest.mark.parametrize(
    ("answer", "expected", "text"),
    [
        (error(404, "NOT_FOUND", "no svc"), ConfigError, "svc does not exist in project p"),
        (
            error(403, "PERMISSION_DENIED", "Permission 'run.services.get' denied"),
            PermissionDenied,
            "lacks permission run.services.get on project p",
        ),
    ],
)
def test_a_refusal_is_not_retried_and_says_what_it_means(
    seam: Seam, answer: Answer, expected: type[Exception], text: str
) -> None:
    seam.script.on("GET", SERVICE, answer)
    with pytest.raises(expected, match=re.escape(text)):
        seam.run(lambda: seam.api.get_service(PATH))
    assert len(seam.script.seen) == 1
    assert seam.slept == []


def test_permissions_are_asked_of_cloud_run_before_anything_changes(seam: Seam) -> None:
    route = f"{SERVICE}:testIamPermissions"
    seam.script.on("POST", route, (200, {"permissions": ["run.routes.invoke"]}), (200, {}))
    seam.run(lambda: seam.api.require(PATH, "run.routes.invoke"))
    with pytest.raises(PermissionDenied) as refused:
        seam.run(lambda: seam.api.require(PATH, "run.routes.invoke"))
    assert refused.value.cause == (
        "the deployer identity lacks permission run.routes.invoke on svc, so Cloud Run would "
        "refuse its probes"
    )
    assert refused.value.advice == (
        "Grant it roles/run.invoker (on each service); terraform/stack/run.tf grants it to the "
        "deployer."
    )
    asked = seam.script.calls("POST", route)
    assert [a.body for a in asked] == [{"permissions": ["run.routes.invoke"]}] * 2


# ------------------------------------------------------------------ writes


def test_a_write_sends_the_change_under_the_etag_and_waits_for_its_operation(seam: Seam) -> None:
    done = service("e2", labels={"release": "1-1-0"})
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", (200, operation(done=True, response=done)))
    assert update(seam).etag == "e2"
    (patch,) = seam.script.calls("PATCH", SERVICE)
    assert patch.query["updateMask"] == ["labels"]
    assert (patch.body["etag"], patch.body["labels"]) == ("e1", {"release": "1-1-0"})
    (wait,) = seam.script.calls("POST", f"/v2/{OPERATION}:wait")
    assert wait.body == {"timeout": "30s"}  # a slice of the write's 60 s
    assert seam.slept == []


def test_the_wait_asks_for_no_more_than_what_is_left_of_the_write(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    done = operation(done=True, response=service("e2"))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", (200, done))
    update(seam, timeout=12.5)
    (wait,) = seam.script.calls("POST", f"/v2/{OPERATION}:wait")
    seconds = float(wait.body["timeout"].rstrip("s"))
    assert 12.0 < seconds <= 12.5


def test_without_wait_operation_the_operation_is_polled_with_growing_delays(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", error(501, "UNIMPLEMENTED", "no wait"))
    pending, done = operation(done=False), operation(done=True, response=service("e2"))
    seam.script.on("GET", f"/v2/{OPERATION}", *[(200, pending)] * 8, (200, done))
    assert update(seam).etag == "e2"
    assert len(seam.script.calls("POST", f"/v2/{OPERATION}:wait")) == 1  # asked once only
    assert len(seam.script.calls("GET", f"/v2/{OPERATION}")) == 9
    # From a quarter of a second, half as long again each time, at most 2 s.
    assert [round(s, 4) for s in seam.slept] == [
        0.25, 0.375, 0.5625, 0.8438, 1.2656, 1.8984, 2.0, 2.0, 2.0,
    ]  # fmt: skip


def test_a_poll_that_fails_names_the_write_it_was_for(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", error(501, "UNIMPLEMENTED", "no wait"))
    seam.script.on("GET", f"/v2/{OPERATION}", error(404, "NOT_FOUND", "no such operation"))
    with pytest.raises(ConfigError) as failed:
        update(seam)
    assert failed.value.cause.startswith("could not update service svc: svc does not exist")


def test_connect_speaks_rest_to_the_endpoint_under_the_given_retry_policy(seam: Seam) -> None:
    policy = RetryPolicy(attempts=2, initial=0.001, maximum=0.001)
    api = CloudRunApi.connect(AnonymousCredentials(), endpoint=seam.endpoint, retry=policy)
    seam.script.on("GET", SERVICE, error(503, "UNAVAILABLE", "down"))
    with pytest.raises(ServiceUnreachable) as failed:
        anyio.run(api.get_service, PATH)
    assert "did not answer after 2 attempts" in failed.value.cause
    assert len(seam.script.seen) == 2
    seam.script.on("GET", f"{SERVICE}/revisions", (200, {"revisions": [revision("a", 1)]}))
    (found,) = anyio.run(api.list_revisions, PATH)  # revisions over REST, at the endpoint too
    assert found.name == f"{PATH}/revisions/a"


def test_a_wait_that_fails_otherwise_is_an_error_not_a_poll(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", error(400, "INVALID_ARGUMENT", "bad name"))
    with pytest.raises(OperationFailed, match=r"could not update service svc: .*bad name"):
        update(seam)
    assert seam.script.calls("GET", f"/v2/{OPERATION}") == []


def test_an_operation_that_finished_with_an_error_failed_for_good(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    failed = operation(done=True, code=13, message="Revision svc-2 does not exist")
    seam.script.on("POST", f"/v2/{OPERATION}:wait", (200, failed))
    with pytest.raises(OperationFailed) as error_:
        update(seam)
    assert error_.value.cause == (
        "could not update service svc: Cloud Run could not apply it "
        "(INTERNAL: Revision svc-2 does not exist)"
    )
    assert len(seam.script.calls("PATCH", SERVICE)) == 1  # never retried
    assert seam.script.calls("GET", SERVICE) == []  # nor read back as applied


def test_an_operation_still_running_when_the_write_s_time_is_up_is_not_applied(
    seam: Seam,
) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", (200, operation(done=False)))
    with pytest.raises(OperationFailed, match="had not applied it after the wait ended"):
        update(seam, timeout=0.3)


def test_a_transient_failure_of_the_write_is_retried(seam: Seam) -> None:
    done = operation(done=True, response=service("e2"))
    seam.script.on("PATCH", SERVICE, error(502, "UNAVAILABLE", "bad gateway"), (200, done))
    assert update(seam).etag == "e2"
    assert len(seam.script.calls("PATCH", SERVICE)) == 2
    assert [n.what for n in seam.notices] == ["update service svc"]


def test_a_write_whose_answer_was_lost_and_that_landed_counts_once_cloud_run_settled(
    seam: Seam,
) -> None:
    """The retry meets our own new etag (409 ABORTED): the service is read until Cloud Run
    stops reconciling it, and carries the change."""
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    landed = service("e2", labels={"release": "1-1-0"})
    busy = service("e2", labels={"release": "1-1-0"}, reconciling=True)
    seam.script.on("GET", SERVICE, *[(200, as_json(busy))] * 9, (200, as_json(landed)))
    assert update(seam).etag == "e2"
    assert len(seam.script.calls("GET", SERVICE)) == 10
    # From a tenth of a second, half as long again each time, at most 2 s.
    assert [round(s, 4) for s in seam.slept] == [
        0.1, 0.15, 0.225, 0.3375, 0.5063, 0.7594, 1.1391, 1.7086, 2.0,
    ]  # fmt: skip
    assert len(seam.script.calls("PATCH", SERVICE)) == 1


def test_a_lost_write_that_cloud_run_could_not_apply_is_not_reported_applied(
    seam: Seam,
) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    landed = service("e2", labels={"release": "1-1-0"})
    landed.terminal_condition = run_v2.Condition(
        type_="Ready", state=_CONDITION.CONDITION_FAILED, message="image not found"
    )
    seam.script.on("GET", SERVICE, (200, as_json(landed)))
    with pytest.raises(OperationFailed) as failed:
        update(seam)
    assert failed.value.cause == (
        "could not update service svc: Cloud Run could not apply it (image not found)"
    )


def test_a_moved_etag_is_a_conflict_only_when_someone_changed_what_the_change_is_about(
    seam: Seam,
) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    moved = service("e9", labels={"owner": "someone"})
    seam.script.on("GET", SERVICE, (200, as_json(moved)))
    with pytest.raises(ConcurrentRollout) as refused:
        update(seam, Label(owned="owner"))
    assert refused.value.cause == "could not update service svc: someone else changed owner"
    assert refused.value.advice == "Run `clarity-deploy status` to see who holds it."
    assert len(seam.script.calls("PATCH", SERVICE)) == 1


def test_an_etag_moved_by_fields_nobody_here_owns_is_written_again_on_the_fresh_service(
    seam: Seam,
) -> None:
    seam.script.on(
        "PATCH",
        SERVICE,
        error(409, "ABORTED", "etag mismatch"),
        (200, operation(done=True, response=service("e3", labels={"release": "1-1-0"}))),
    )
    seam.script.on("GET", SERVICE, (200, as_json(service("e2", labels={"team": "ml"}))))
    assert update(seam).etag == "e3"
    first, second = seam.script.calls("PATCH", SERVICE)
    assert (first.body["etag"], second.body["etag"]) == ("e1", "e2")
    assert second.body["labels"] == {"team": "ml", "release": "1-1-0"}


def test_an_etag_that_keeps_moving_is_a_conflict_after_three_rebases(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    seam.script.on("GET", SERVICE, (200, as_json(service("e2", labels={"team": "ml"}))))
    with pytest.raises(ConcurrentRollout, match="its etag kept moving"):
        update(seam)
    assert len(seam.script.calls("PATCH", SERVICE)) == 4


def test_a_taken_revision_name_is_no_concurrent_writer(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ALREADY_EXISTS", "revision svc-2 exists"))
    with pytest.raises(RevisionNameTaken):
        update(seam)
    assert seam.script.calls("GET", SERVICE) == []


# ------------------------------------------------------------------ deletes


def test_deleting_a_revision_that_is_already_gone_says_so(seam: Seam) -> None:
    route = f"{SERVICE}/revisions/svc-1"
    seam.script.on("DELETE", route, error(404, "NOT_FOUND", "gone"))
    assert seam.run(lambda: seam.api.delete_revision(PATH, "svc-1")) is False
    seam.script.routes.clear()
    deleted = operations_pb2.Operation(name=OPERATION, done=True)
    deleted.response.Pack(run_v2.Revision.pb(run_v2.Revision(name=f"{PATH}/revisions/svc-1")))
    seam.script.on("DELETE", route, (200, json_format.MessageToDict(deleted)))
    assert seam.run(lambda: seam.api.delete_revision(PATH, "svc-1")) is True


# ------------------------------------------------------------------ what an error names


@pytest.mark.parametrize(
    ("method", "route", "call", "what"),
    [
        ("GET", f"{SERVICE}/revisions", lambda api: api.list_revisions(PATH), "list revisions of svc"),
        ("GET", f"{SERVICE}/revisions/svc-1", lambda api: api.get_revision(PATH, "svc-1"), "read revision svc-1"),
        ("POST", f"{SERVICE}:testIamPermissions", lambda api: api.require(PATH, "run.routes.invoke"), "check permissions on svc"),
        ("DELETE", f"{SERVICE}/revisions/svc-1", lambda api: api.delete_revision(PATH, "svc-1"), "delete revision svc-1"),
        ("PATCH", SERVICE, lambda api: api.update_service(PATH, service(), Label(), timeout=60), "update service svc"),
    ],
)  # fmt: skip
def test_every_call_s_errors_name_the_call_the_service_and_the_project(
    seam: Seam, method: str, route: str, call: Callable[[CloudRunApi], Any], what: str
) -> None:
    """A refusal is mapped at once (no retry); a transient failure is retried, each retry
    reported by the seam itself, until the attempts run out."""
    seam.script.on(
        method,
        route,
        error(403, "PERMISSION_DENIED", "Permission 'run.services.get' denied on resource"),
        error(503, "UNAVAILABLE", "busy"),
    )
    with pytest.raises(PermissionDenied) as refused:
        seam.run(lambda: call(seam.api))
    assert refused.value.cause.startswith(
        f"could not {what}: the deployer identity lacks permission run.services.get on project p "
    )
    assert seam.notices == []
    with pytest.raises(ServiceUnreachable) as unreachable:
        seam.run(lambda: call(seam.api))
    assert unreachable.value.cause == (
        f"could not {what}: the Cloud Run Admin API did not answer after 3 attempts (503 busy)"
    )
    assert [(n.what, n.error, n.attempt) for n in seam.notices] == [
        (what, "503 busy", 1),
        (what, "503 busy", 2),
    ]
    assert len(seam.slept) == 2  # the seam's own backoff, not the client library's
    assert len(seam.script.calls(method, route)) == 1 + 3


def test_a_missing_service_is_named_with_its_project(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, error(404, "NOT_FOUND", "no such service"))
    with pytest.raises(ConfigError) as missing:
        update(seam)
    assert missing.value.cause.startswith(
        "could not update service svc: svc does not exist in project p (API said: "
    )


def test_a_write_with_less_than_a_second_left_still_waits_for_its_operation(seam: Seam) -> None:
    seam.script.on("PATCH", SERVICE, (200, operation(done=False)))
    done = operation(done=True, response=service("e2"))
    seam.script.on("POST", f"/v2/{OPERATION}:wait", (200, done))
    assert update(seam, timeout=0.9).etag == "e2"


def test_a_lost_write_read_back_with_less_than_a_second_left_waits_for_it_to_settle(
    seam: Seam,
) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    landed = service("e2", labels={"release": "1-1-0"})
    busy = service("e2", labels={"release": "1-1-0"}, reconciling=True)
    seam.script.on("GET", SERVICE, (200, as_json(busy)), (200, as_json(landed)))
    assert update(seam, timeout=0.9).etag == "e2"


def test_a_lost_write_still_reconciling_when_the_write_s_time_is_up_is_not_applied(
    seam: Seam,
) -> None:
    seam.script.on("PATCH", SERVICE, error(409, "ABORTED", "etag mismatch"))
    busy = service("e2", labels={"release": "1-1-0"}, reconciling=True)
    seam.script.on("GET", SERVICE, (200, as_json(busy)))
    with pytest.raises(OperationFailed) as failed:
        update(seam, timeout=0.2)
    assert failed.value.cause == (
        "could not update service svc: Cloud Run was still applying it when the wait ended"
    )
