"""The double as lossy and as slow as the real API: answers lost after the write landed, failing
operations, concurrent writers, callers that vanish, etags that move after an operation, call
steps a fault can aim at, long-polled operations, and revisions that scale to zero."""

from __future__ import annotations

import os
import time

import httpx
import pytest
import requests
from google.api_core import exceptions
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from tests.doubles.cloud_run import Call, CallStep, CloudRunDouble
from tests.doubles_tests.helpers import FAST_POLL
from tests.support.processes import wait_for

from .helpers import bearer, create, short, target, template

pytestmark = pytest.mark.delivery

ANNOTATIONS = field_mask_pb2.FieldMask(paths=["annotations"])


def _annotate(service: run_v2.Service, key: str, value: str) -> run_v2.Service:
    change = run_v2.Service(name=service.name, etag=service.etag)
    change.annotations[key] = value
    return change


def test_an_update_whose_answer_is_lost_has_landed(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.lose_answer("UpdateService")

    with pytest.raises(requests.ConnectionError):
        services.update_service(
            service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS, retry=None
        )

    stored = double.service("api-gateway")
    assert stored.annotations["k"] == "v"
    assert stored.generation == 2
    assert stored.etag != service.etag
    assert double.api_log[-1].rpc == "UpdateService"
    assert double.api_log[-1].status == 0  # closed without an answer


def test_any_rpc_can_lose_its_answer(
    double: CloudRunDouble, services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    service = create(services)
    double.lose_answer("GetService")
    with pytest.raises(requests.ConnectionError):
        services.get_service(name=service.name, retry=None)
    double.lose_answer("ListRevisions")
    with pytest.raises(requests.ConnectionError):
        list(revisions.list_revisions(parent=service.name, retry=None))
    assert services.get_service(name=service.name, retry=None).etag == service.etag


def test_a_lost_answer_may_be_an_error_answered_instead_of_the_result(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    """A front end that answers 503 although the backend applied the write."""
    service = create(services)
    double.lose_answer("UpdateService", status=503)

    with pytest.raises(exceptions.ServiceUnavailable):
        services.update_service(
            service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS, retry=None
        )

    assert double.service("api-gateway").annotations["k"] == "v"
    assert double.api_log[-1].status == 503
    # The retry meets the etag the landed write moved: 409, nothing written twice.
    with pytest.raises(exceptions.Conflict):
        services.update_service(
            service=_annotate(service, "k", "w"), update_mask=ANNOTATIONS, retry=None
        )
    assert double.service("api-gateway").generation == 2


def test_an_action_before_a_call_runs_first_and_the_call_then_meets_what_it_did(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    """``before_next``: another client's write lands first (the caller's etag is stale), and a
    grant revoked by the action refuses this very call; the rule is spent after ``times``."""
    service = create(services)
    seen: list[int] = []

    def another_client() -> None:
        seen.append(len(double.api_log))
        current = services.get_service(name=service.name, retry=None)
        services.update_service(
            service=_annotate(current, "owner", "someone-else"), update_mask=ANNOTATIONS
        ).result(timeout=30, polling=FAST_POLL)

    double.before_next("UpdateService", another_client)
    with pytest.raises(exceptions.Conflict):
        services.update_service(
            service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS, retry=None
        )
    assert len(seen) == 1
    stored = double.service("api-gateway")
    assert stored.annotations["owner"] == "someone-else"
    assert "k" not in stored.annotations

    double.before_next("UpdateService", lambda: double.deny("run.services.update"))
    with pytest.raises(exceptions.Forbidden):
        services.update_service(
            service=_annotate(stored, "k", "v"), update_mask=ANNOTATIONS, retry=None
        )
    double.allow("run.services.update")
    services.update_service(
        service=_annotate(stored, "k", "v"), update_mask=ANNOTATIONS, retry=None
    ).result(timeout=30, polling=FAST_POLL)
    assert double.service("api-gateway").annotations["k"] == "v"


def test_a_failing_operation_keeps_the_write_and_leaves_traffic_alone(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services, revision="api-gateway-a")
    services.update_service(
        service=run_v2.Service(name=service.name, template=template(revision="api-gateway-b")),
    ).result(timeout=30, polling=FAST_POLL)
    before = double.traffic("api-gateway")
    double.fail_operation("UpdateService", code="INTERNAL", message="Internal error encountered.")
    change = run_v2.Service(
        name=service.name, traffic=[target("api-gateway-a", 50), target("api-gateway-b", 50)]
    )

    operation = services.update_service(
        service=change, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
    )
    with pytest.raises(exceptions.InternalServerError, match="Internal error encountered"):
        operation.result(timeout=30, polling=FAST_POLL)

    stored = double.service("api-gateway")
    assert [(t.revision, t.percent) for t in stored.traffic] == [
        ("api-gateway-a", 50),
        ("api-gateway-b", 50),
    ]
    assert double.traffic("api-gateway") == before
    assert stored.terminal_condition.state == run_v2.Condition.State.CONDITION_FAILED
    assert "Internal error encountered" in stored.terminal_condition.message
    assert not stored.reconciling


def test_a_concurrent_writer_moves_the_etag_just_before_the_call(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.interleave_write("UpdateService")

    with pytest.raises(exceptions.Conflict) as caught:
        services.update_service(service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS)

    assert caught.value.response.json()["error"]["status"] == "ABORTED"
    stored = double.service("api-gateway")
    assert stored.labels["concurrent-write"] == "1"
    assert "k" not in stored.annotations


def test_an_intercepted_call_runs_the_callback_and_is_never_handled(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    seen: list[str] = []
    double.intercept("UpdateService", lambda request: seen.append(request.rpc))

    with pytest.raises(requests.ConnectionError):
        services.update_service(
            service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS, retry=None
        )

    assert seen == ["UpdateService"]
    assert double.service("api-gateway").generation == 1


def test_call_steps_count_retries_and_polls_as_one_step(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.clear_faults()
    double.fail_next(CallStep(2), status=503, times=2)  # the second step, twice

    services.get_service(name=service.name, retry=None)
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable):
            services.get_service(name=service.name + "-x", retry=None)
    with pytest.raises(exceptions.NotFound):  # the fault is used up: the real answer
        services.get_service(name=service.name + "-x", retry=None)
    services.get_service(name=service.name, retry=None)

    assert [(s.n, s.rpc) for s in double.call_steps] == [
        (1, "GetService"),
        (2, "GetService"),
        (3, "GetService"),
    ]
    assert double.call_steps[1].path.endswith("/services/api-gateway-x")


def test_with_restamped_etags_the_etag_an_operation_returned_is_stale(
    services: run_v2.ServicesClient, double: CloudRunDouble
) -> None:
    service = create(services)
    double.restamp_etag = True
    done = services.update_service(
        service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS
    ).result(timeout=30, polling=FAST_POLL)

    assert double.service("api-gateway").etag != done.etag
    with pytest.raises(exceptions.Conflict):
        services.update_service(service=_annotate(done, "k", "w"), update_mask=ANNOTATIONS)
    fresh = services.get_service(name=service.name)
    services.update_service(service=_annotate(fresh, "k", "w"), update_mask=ANNOTATIONS).result(
        timeout=30, polling=FAST_POLL
    )
    assert double.service("api-gateway").annotations["k"] == "w"


def test_wait_operation_returns_as_soon_as_the_operation_is_done(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.operation_delay = 0.5
    operation = services.update_service(
        service=_annotate(service, "k", "v"), update_mask=ANNOTATIONS
    )
    started = time.monotonic()
    waited = services.wait_operation(
        request=operations_pb2.WaitOperationRequest(
            name=operation.operation.name, timeout={"seconds": 20}
        ),
        retry=None,
        timeout=25,
    )
    elapsed = time.monotonic() - started

    assert waited.done
    assert 0.3 < elapsed < 5
    assert run_v2.Service.deserialize(waited.response.value).annotations["k"] == "v"


def test_a_revision_nothing_reaches_scales_to_zero_and_starts_again_when_reached(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services, revision="api-gateway-a")
    first_pid = double.revision_processes()["api-gateway-a"].pid
    services.update_service(
        service=run_v2.Service(name=service.name, template=template(revision="api-gateway-b"))
    ).result(timeout=30, polling=FAST_POLL)
    wait_for(
        lambda: not double.revision_processes()["api-gateway-a"].alive,
        timeout=10,
        what="api-gateway-a to scale to zero",
    )
    assert double.revision("api-gateway-a").conditions[0].state == (
        run_v2.Condition.State.CONDITION_SUCCEEDED
    )

    services.update_service(
        service=run_v2.Service(
            name=service.name,
            traffic=[target("api-gateway-a", 100), target("api-gateway-b", 0, "previous")],
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["traffic"]),
    ).result(timeout=30, polling=FAST_POLL)

    again = double.revision_processes()["api-gateway-a"]
    assert again.alive
    assert again.pid != first_pid
    served = httpx.get(f"{service.uri}/health", headers=bearer(), timeout=5).json()
    assert served["revision"] == "api-gateway-a"
    assert double.revision_processes()["api-gateway-b"].alive  # tagged: stays reachable
    assert first_pid is not None
    wait_for(lambda: not _running(first_pid), timeout=10, what="the first instance to exit")
    assert short(double.service("api-gateway").latest_ready_revision) == "api-gateway-b"


def test_a_rule_can_match_a_body_and_wait_for_another_call(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    second = Call("UpdateService", body=r'"k": "second"')
    double.fail_next(r"/operations/", status=429, after=second)

    first = services.update_service(
        service=_annotate(service, "k", "first"), update_mask=ANNOTATIONS
    ).result(timeout=30, polling=FAST_POLL)  # its polls are not affected
    fresh = services.get_service(name=first.name)
    operation = services.update_service(
        service=_annotate(fresh, "k", "second"), update_mask=ANNOTATIONS
    )
    with pytest.raises(exceptions.TooManyRequests):
        operation.result(timeout=30, polling=FAST_POLL)
    assert double.service("api-gateway").annotations["k"] == "second"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
