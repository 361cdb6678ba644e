"""Injected API failures surface as the google.api_core exceptions the real API produces,
concurrent writers meet the etag, and stop() leaves nothing behind."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from tests.doubles.cloud_run import CloudRunDouble, fixture_app_command, image_short_name
from tests.doubles_tests.helpers import FAST_POLL

from .helpers import create, target, template

pytestmark = pytest.mark.delivery


def test_transient_503_surfaces_without_retry_and_is_retried_by_default(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.fail_next("GetService", status=503)
    with pytest.raises(exceptions.ServiceUnavailable):
        services.get_service(name=service.name, retry=None)
    assert services.get_service(name=service.name, retry=None).name == service.name

    double.fail_next("GetService", status=503, times=2)
    before = len(double.api_log)
    assert services.get_service(name=service.name).name == service.name
    assert [r.status for r in double.api_log[before:]] == [503, 503, 200]


def test_rate_limit_on_update_is_429_and_changes_nothing(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.fail_next(r"^PATCH /v2/.*/services/api-gateway$", status=429)
    with pytest.raises(exceptions.TooManyRequests, match="Quota exceeded"):
        services.update_service(service=run_v2.Service(name=service.name, template=template()))
    assert double.service("api-gateway").generation == 1


def test_permission_denied_names_the_missing_permission(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    double.deny("run.services.update")
    change = run_v2.Service(name=service.name, annotations={"a": "b"})
    mask = field_mask_pb2.FieldMask(paths=["annotations"])

    # Over REST the client maps HTTP 403 to Forbidden (PermissionDenied is its gRPC subclass).
    with pytest.raises(exceptions.Forbidden) as caught:
        services.update_service(service=change, update_mask=mask)

    assert "Permission 'run.services.update' denied on resource" in caught.value.message
    assert caught.value.reason == "IAM_PERMISSION_DENIED"
    assert caught.value.metadata == {"permission": "run.services.update", "resource": service.name}
    assert services.get_service(name=service.name).generation == 1
    double.allow("run.services.update")
    services.update_service(service=change, update_mask=mask).result(timeout=30, polling=FAST_POLL)


def test_fail_next_rejects_statuses_it_cannot_render(double: CloudRunDouble) -> None:
    with pytest.raises(ValueError, match="use one of"):
        double.fail_next("GetService", status=418)


def test_two_writers_with_the_same_etag_one_wins_one_conflicts(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)
    base = services.get_service(name=service.name)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def write(writer: str) -> None:
        change = run_v2.Service.deserialize(run_v2.Service.serialize(base))
        change.annotations["writer"] = writer
        barrier.wait()
        try:
            services.update_service(service=change).result(timeout=30, polling=FAST_POLL)
            outcomes.append("ok")
        except exceptions.Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(w,)) for w in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["conflict", "ok"]
    assert double.service("api-gateway").generation == 2


def test_stop_leaves_no_process_or_listener_behind(tmp_path: Path) -> None:
    double = CloudRunDouble(tmp_path, operation_delay=0, image_command=fixture_app_command)
    double.start()
    client = run_v2.ServicesClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": double.endpoint},
    )
    service = create(client, revision="api-gateway-a")
    client.update_service(
        service=run_v2.Service(
            name=service.name,
            template=template(revision="api-gateway-b"),
            # The tag keeps revision a reachable, so it does not scale to zero.
            traffic=[target("api-gateway-b", 100), target("api-gateway-a", 0, "old")],
        )
    ).result(timeout=30, polling=FAST_POLL)
    processes = double.revision_processes()
    ports = [info.port for info in processes.values()]
    api_port = int(double.endpoint.rsplit(":", 1)[1])
    proxy_port = int(service.uri.rsplit(":", 1)[1])

    double.stop()

    assert len(processes) == 2
    for info in processes.values():
        assert info.pid is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(info.pid, 0)
    for port in [*ports, api_port, proxy_port]:
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            pass
    double.stop()  # idempotent


def test_image_short_name_reads_the_repository_segment() -> None:
    assert image_short_name("europe-docker.pkg.dev/p/r/api-gateway:1.2@sha256:ab") == "api-gateway"
    assert image_short_name("ml-service") == "ml-service"
