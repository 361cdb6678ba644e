"""Traffic through the double's service and tag URLs, and revisions that fail or die."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from tests.doubles.cloud_run import CloudRunDouble, fixture_app_command
from tests.doubles_tests.helpers import FAST_POLL

from .helpers import LATEST, bearer, create, short, target, template

pytestmark = pytest.mark.delivery

FAILED = run_v2.Condition.State.CONDITION_FAILED
TRAFFIC = field_mask_pb2.FieldMask(paths=["traffic"])
TEMPLATE_AND_TRAFFIC = field_mask_pb2.FieldMask(paths=["template", "traffic"])


def _revisions_behind(url: str, requests: int) -> Counter[str]:
    with httpx.Client(headers=bearer(), timeout=5) as http:
        return Counter(http.get(f"{url}/whoami").json()["revision"] for _ in range(requests))


def _two_revisions(services: run_v2.ServicesClient) -> run_v2.Service:
    first = create(services, revision="api-gateway-blue")
    services.update_service(
        service=run_v2.Service(
            name=first.name,
            template=template(revision="api-gateway-green"),
            traffic=[target("api-gateway-blue", 100), target("api-gateway-green", 0, "green")],
        ),
        update_mask=TEMPLATE_AND_TRAFFIC,
    ).result(timeout=30, polling=FAST_POLL)
    return first


def test_service_url_splits_requests_by_percent(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    first = _two_revisions(services)
    services.update_service(
        service=run_v2.Service(
            name=first.name,
            traffic=[target("api-gateway-blue", 80), target("api-gateway-green", 20)],
        ),
        update_mask=TRAFFIC,
    ).result(timeout=30, polling=FAST_POLL)

    seen = _revisions_behind(first.uri or double.service("api-gateway").uri, 100)

    assert seen == {"api-gateway-blue": 80, "api-gateway-green": 20}
    assert double.traffic("api-gateway") == {"api-gateway-blue": 80, "api-gateway-green": 20}
    # Tagging green at 0 % changed no split, so it is not in the history.
    assert double.routing_history("api-gateway") == [
        {"api-gateway-blue": 100},
        {"api-gateway-blue": 80, "api-gateway-green": 20},
    ]


def test_each_tag_has_its_own_url_reaching_its_revision(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    first = _two_revisions(services)
    service = services.get_service(name=first.name)
    tagged = {s.tag: s.uri for s in service.traffic_statuses if s.tag}

    assert set(tagged) == {"green"}
    assert tagged == double.tag_urls("api-gateway")
    assert tagged["green"] != service.uri
    assert _revisions_behind(tagged["green"], 5) == {"api-gateway-green": 5}
    assert _revisions_behind(service.uri, 5) == {"api-gateway-blue": 5}

    services.update_service(
        service=run_v2.Service(name=first.name, traffic=[target("api-gateway-green", 100)]),
        update_mask=TRAFFIC,
    ).result(timeout=30, polling=FAST_POLL)
    assert httpx.get(f"{tagged['green']}/health", headers=bearer(), timeout=5).status_code == 404


def test_urls_require_a_bearer_token_and_record_its_audience(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services)

    assert httpx.get(f"{service.uri}/health", timeout=5).status_code == 403
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert httpx.get(f"{service.uri}/health", headers=basic, timeout=5).status_code == 401
    ok = httpx.get(f"{service.uri}/health", headers=bearer("https://clarity.example"), timeout=5)
    assert ok.status_code == 200
    assert double.last_token_audience == "https://clarity.example"
    assert [(r.status, r.authorized) for r in double.proxy_log] == [
        (403, False),
        (401, False),
        (200, True),
    ]


def test_candidate_that_crashes_on_start_fails_ready_and_leaves_traffic_alone(
    double: CloudRunDouble, services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services, revision="api-gateway-stable")
    crashing = run_v2.Service(
        name=first.name,
        template=template(revision="api-gateway-bad", env={"CLARITY_FAULT": "crash-on-start"}),
        traffic=[target("api-gateway-stable", 100), target("api-gateway-bad", 0, "candidate")],
    )
    operation = services.update_service(service=crashing, update_mask=TEMPLATE_AND_TRAFFIC)

    with pytest.raises(exceptions.FailedPrecondition, match="is not ready and cannot serve"):
        operation.result(timeout=30, polling=FAST_POLL)

    bad = revisions.get_revision(name=f"{first.name}/revisions/api-gateway-bad")
    assert bad.conditions[0].type_ == "Ready"
    assert bad.conditions[0].state == FAILED
    assert "exit(1)" in bad.conditions[0].message
    service = services.get_service(name=first.name)
    assert service.terminal_condition.state == FAILED
    assert short(service.latest_created_revision) == "api-gateway-bad"
    assert short(service.latest_ready_revision) == "api-gateway-stable"
    # Effective traffic is still the create's "100 % to LATEST", resolved to the last
    # revision that could serve; the desired traffic stays as written, as on Cloud Run.
    assert [(s.type_, s.percent, s.tag) for s in service.traffic_statuses] == [(LATEST, 100, "")]
    assert [t.revision for t in service.traffic] == ["api-gateway-stable", "api-gateway-bad"]
    assert double.traffic("api-gateway") == {"api-gateway-stable": 100}
    assert _revisions_behind(service.uri, 3) == {"api-gateway-stable": 3}


def test_traffic_to_a_missing_revision_fails_the_operation(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    first = create(services, revision="api-gateway-stable")
    operation = services.update_service(
        service=run_v2.Service(name=first.name, traffic=[target("api-gateway-ghost", 100)]),
        update_mask=TRAFFIC,
    )
    with pytest.raises(exceptions.InternalServerError, match="does not exist or is deleted"):
        operation.result(timeout=30, polling=FAST_POLL)
    assert double.traffic("api-gateway") == {"api-gateway-stable": 100}


def test_revision_that_never_listens_times_out(tmp_path: Path) -> None:
    def silent(image: str, port: int) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]

    with CloudRunDouble(
        tmp_path, operation_delay=0, ready_timeout=1, image_command=silent
    ) as double:
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.endpoint},
        )
        with pytest.raises(exceptions.FailedPrecondition, match="within the allocated timeout"):
            create(client)
        pids = [info.pid for info in double.revision_processes().values()]
    assert pids
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_default_image_command_rejects_unknown_images_with_a_clear_message(
    tmp_path: Path,
) -> None:
    with CloudRunDouble(tmp_path, operation_delay=0) as double:
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.endpoint},
        )
        operation = client.create_service(
            parent="projects/p/locations/l",
            service_id="web",
            service=run_v2.Service(template=template(image="docker.io/library/nginx:1")),
        )
        with pytest.raises(exceptions.FailedPrecondition, match="pass image_command="):
            operation.result(timeout=30, polling=FAST_POLL)


def test_a_killed_revision_answers_503_through_the_service_url(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services, revision="api-gateway-doomed")
    assert httpx.get(f"{service.uri}/health", headers=bearer(), timeout=5).status_code == 200

    double.kill_revision("api-gateway-doomed")

    info = double.revision_processes()["api-gateway-doomed"]
    assert not info.alive
    assert info.exit_code == -9
    assert httpx.get(f"{service.uri}/health", headers=bearer(), timeout=5).status_code == 503


def test_fault_flag_turns_health_red_after_n_requests(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    service = create(services, env={"CLARITY_FAULT": "health-500-after=2"})
    with httpx.Client(headers=bearer(), timeout=5) as http:
        codes = [http.get(f"{service.uri}/health").status_code for _ in range(4)]
    assert codes == [200, 200, 500, 500]


def test_stop_revision_stops_only_that_process(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    _two_revisions(services)
    double.stop_revision("api-gateway-green")
    processes = double.revision_processes()
    assert not processes["api-gateway-green"].alive
    assert processes["api-gateway-blue"].alive


def test_image_command_receives_the_image_and_port(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []

    def recording(image: str, port: int) -> list[str]:
        calls.append((image, port))
        return fixture_app_command(image, port)

    with CloudRunDouble(
        tmp_path, operation_delay=0, image_command=recording, require_auth=False
    ) as double:
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.endpoint},
        )
        service = create(client, revision="api-gateway-r1")
        assert calls == [
            ("europe-docker.pkg.dev/p/clarity/api-gateway:1.0.0", calls[0][1]),
        ]
        assert double.revision_processes()["api-gateway-r1"].port == calls[0][1]
        assert httpx.get(f"{service.uri}/health", timeout=5).status_code == 200
