"""Every REST call the delivery library makes, through the real google-cloud-run client."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from tests.doubles.cloud_run import CloudRunDouble, fixture_app_command
from tests.doubles_tests.helpers import FAST_POLL
from tests.support.processes import wait_for

from .helpers import IMAGE, LATEST, PARENT, bearer, create, short, target, template

pytestmark = pytest.mark.delivery

SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED


def test_create_service_runs_a_revision_and_the_operation_returns_the_service(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    operation = services.create_service(
        parent=PARENT,
        service_id="api-gateway",
        service=run_v2.Service(labels={"team": "clarity"}, template=template()),
    )
    assert operation.operation.name.startswith(f"{PARENT}/operations/")

    created: run_v2.Service = operation.result(timeout=30, polling=FAST_POLL)

    assert created.name == f"{PARENT}/services/api-gateway"
    assert created.uid
    assert created.generation == created.observed_generation == 1
    assert not created.reconciling
    assert created.etag
    assert created.terminal_condition.type_ == "Ready"
    assert created.terminal_condition.state == SUCCEEDED
    assert created.latest_ready_revision == created.latest_created_revision
    assert short(created.latest_ready_revision).startswith("api-gateway-00001-")
    assert [(t.type_, t.percent) for t in created.traffic_statuses] == [(LATEST, 100)]
    assert created.uri.startswith("http://127.0.0.1:")
    fetched = services.get_service(name=created.name)
    assert fetched.labels == {"team": "clarity"}
    assert fetched.etag == created.etag
    assert [s.name for s in services.list_services(parent=PARENT)] == [created.name]
    health = httpx.get(f"{created.uri}/health", headers=bearer(), timeout=5).json()
    assert health == {
        "status": "ok",
        "service": "api-gateway",
        "version": "0.0.0",
        "revision": short(created.latest_ready_revision),
    }


def test_get_of_a_missing_service_is_not_found(services: run_v2.ServicesClient) -> None:
    with pytest.raises(exceptions.NotFound, match="was not found"):
        services.get_service(name=f"{PARENT}/services/nope")


def test_creating_an_existing_service_conflicts(services: run_v2.ServicesClient) -> None:
    create(services)
    with pytest.raises(exceptions.Conflict, match="already exists") as caught:
        services.create_service(
            parent=PARENT, service_id="api-gateway", service=run_v2.Service(template=template())
        )
    assert caught.value.response.json()["error"]["status"] == "ALREADY_EXISTS"


def test_update_with_mask_creates_a_named_revision_carrying_template_labels(
    double: CloudRunDouble, services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services)
    change = run_v2.Service(
        name=first.name,
        template=template(
            revision="api-gateway-v2-abc1234",
            labels={"clarity-version": "v2"},
            env={"CLARITY_VERSION": "2.0.0"},
        ),
    )

    updated: run_v2.Service = services.update_service(
        service=change, update_mask=field_mask_pb2.FieldMask(paths=["template"])
    ).result(timeout=30, polling=FAST_POLL)

    assert updated.generation == updated.observed_generation == 2
    assert updated.etag != first.etag
    assert short(updated.latest_created_revision) == "api-gateway-v2-abc1234"
    assert updated.latest_ready_revision == updated.latest_created_revision
    assert updated.labels == first.labels  # outside the mask: untouched
    revision = revisions.get_revision(name=updated.latest_created_revision)
    assert revision.labels == {"clarity-version": "v2"}
    assert revision.service == first.name
    assert revision.conditions[0].type_ == "Ready"
    assert revision.conditions[0].state == SUCCEEDED
    assert revision.create_time is not None
    assert revision.containers[0].image == IMAGE
    listed = [r.name for r in revisions.list_revisions(parent=first.name)]
    assert listed == [updated.latest_created_revision, first.latest_created_revision]
    health = httpx.get(f"{updated.uri}/health", headers=bearer(), timeout=5).json()
    assert health["revision"] == "api-gateway-v2-abc1234"
    assert health["version"] == "2.0.0"
    assert double.traffic("api-gateway") == {"api-gateway-v2-abc1234": 100}


def test_traffic_only_update_keeps_the_template_and_creates_no_revision(
    services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services, revision="api-gateway-one")
    services.update_service(
        service=run_v2.Service(name=first.name, template=template(revision="api-gateway-two")),
        update_mask=field_mask_pb2.FieldMask(paths=["template"]),
    ).result(timeout=30, polling=FAST_POLL)
    split = run_v2.Service(
        name=first.name, traffic=[target("api-gateway-one", 75), target("api-gateway-two", 25)]
    )

    updated = services.update_service(
        service=split, update_mask=field_mask_pb2.FieldMask(paths=["traffic"])
    ).result(timeout=30, polling=FAST_POLL)

    assert len(list(revisions.list_revisions(parent=first.name))) == 2
    assert [(t.revision, t.percent) for t in updated.traffic_statuses] == [
        ("api-gateway-one", 75),
        ("api-gateway-two", 25),
    ]
    assert updated.template.revision == "api-gateway-two"


def test_full_read_modify_write_without_mask_echoes_output_fields_harmlessly(
    services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services)
    current = services.get_service(name=first.name)
    current.annotations["clarity.dev/rollout"] = "idle"

    updated = services.update_service(service=current).result(timeout=30, polling=FAST_POLL)

    assert updated.annotations["clarity.dev/rollout"] == "idle"
    assert updated.uid == first.uid
    assert updated.generation == 2
    assert len(list(revisions.list_revisions(parent=first.name))) == 1


def test_stale_etag_is_rejected_with_409_aborted_and_changes_nothing(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    first = create(services)
    stale = services.get_service(name=first.name)
    services.update_service(
        service=run_v2.Service(name=first.name, annotations={"writer": "one"}),
        update_mask=field_mask_pb2.FieldMask(paths=["annotations"]),
    ).result(timeout=30, polling=FAST_POLL)
    stale.annotations["writer"] = "two"

    with pytest.raises(exceptions.Conflict, match="has been modified") as caught:
        services.update_service(service=stale)

    assert caught.value.response.json()["error"]["status"] == "ABORTED"
    after = double.service("api-gateway")
    assert after.annotations["writer"] == "one"
    assert after.generation == 2


def test_matching_etag_is_accepted(services: run_v2.ServicesClient) -> None:
    first = create(services)
    current = services.get_service(name=first.name)
    current.annotations["writer"] = "me"
    updated = services.update_service(service=current).result(timeout=30, polling=FAST_POLL)
    assert updated.annotations["writer"] == "me"


def test_reusing_a_revision_name_with_a_different_template_conflicts(
    services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services, revision="api-gateway-v1")
    changed = run_v2.Service(
        name=first.name,
        template=template(revision="api-gateway-v1", env={"CLARITY_VERSION": "9"}),
    )

    with pytest.raises(exceptions.Conflict, match="with different configuration already exists"):
        services.update_service(
            service=changed, update_mask=field_mask_pb2.FieldMask(paths=["template"])
        )

    same = run_v2.Service(name=first.name, template=template(revision="api-gateway-v1"))
    services.update_service(
        service=same, update_mask=field_mask_pb2.FieldMask(paths=["template"])
    ).result(timeout=30, polling=FAST_POLL)
    assert [short(r.name) for r in revisions.list_revisions(parent=first.name)] == [
        "api-gateway-v1"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (run_v2.Service(template=template(revision="other-v2")), "must be prefixed"),
        (run_v2.Service(template=template(env={"PORT": "1"})), "reserved env names"),
        (
            run_v2.Service(template=template(), traffic=[target("api-gateway-v1", 50)]),
            "add up to 100",
        ),
        (
            run_v2.Service(
                template=template(),
                traffic=[target("api-gateway-v1", 50, "a"), target("api-gateway-v1", 50, "a")],
            ),
            "used more than once",
        ),
        (
            run_v2.Service(template=template(), traffic=[target("api-gateway-v1", 100, "t" * 36)]),
            "Combined traffic tag and service name cannot exceed 46 characters",
        ),
    ],
)
def test_invalid_updates_are_rejected_synchronously(
    double: CloudRunDouble, services: run_v2.ServicesClient, change: run_v2.Service, message: str
) -> None:
    first = create(services, revision="api-gateway-v1")
    change.name = first.name
    with pytest.raises(exceptions.BadRequest, match=message):
        services.update_service(service=change)
    assert double.service("api-gateway").generation == 1


def test_allow_missing_creates_and_validate_only_persists_nothing(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    name = f"{PARENT}/services/ml-service"
    request = run_v2.UpdateServiceRequest(
        service=run_v2.Service(name=name, template=template()),
        validate_only=True,
        allow_missing=True,
    )
    checked = services.update_service(request=request)
    with pytest.raises(exceptions.NotFound):
        services.get_service(name=name)
    assert checked.done()

    request = run_v2.UpdateServiceRequest(
        service=run_v2.Service(name=name, template=template()), allow_missing=True
    )
    created = services.update_service(request=request).result(timeout=30, polling=FAST_POLL)
    assert created.name == name
    assert double.traffic("ml-service") == {short(created.latest_ready_revision): 100}


def test_operations_take_their_time_and_are_polled_by_the_client(
    double: CloudRunDouble, services: run_v2.ServicesClient
) -> None:
    first = create(services)
    with double.slow_operations(1.0):
        operation = services.update_service(
            service=run_v2.Service(name=first.name, template=template(revision="api-gateway-slow"))
        )
    assert not operation.done()
    assert double.service("api-gateway").reconciling
    result = operation.result(timeout=30, polling=FAST_POLL)
    assert short(result.latest_ready_revision) == "api-gateway-slow"
    polls = [r for r in double.api_log if r.path == f"/v2/{operation.operation.name}"]
    assert polls
    assert all(r.rpc == "GetOperation" and r.http_method == "GET" for r in polls)


def test_delete_revision_refuses_serving_revisions_and_forgets_retired_ones(
    double: CloudRunDouble, services: run_v2.ServicesClient, revisions: run_v2.RevisionsClient
) -> None:
    first = create(services, revision="api-gateway-old")
    old_pid = double.revision_processes()["api-gateway-old"].pid
    updated = services.update_service(
        service=run_v2.Service(name=first.name, template=template(revision="api-gateway-new"))
    ).result(timeout=30, polling=FAST_POLL)
    # No traffic and no tag reach the old revision any more: it scales to zero (right after
    # the operation finished, as Cloud Run scales down after the switch, not before).
    assert old_pid is not None
    wait_for(lambda: not _running(old_pid), timeout=10, what="the old revision to stop")
    assert double.revision_processes()["api-gateway-old"].alive is False

    with pytest.raises(exceptions.BadRequest, match="receiving traffic"):
        revisions.delete_revision(name=updated.latest_created_revision)
    deleted = revisions.delete_revision(name=first.latest_created_revision).result(
        timeout=30, polling=FAST_POLL
    )

    assert short(deleted.name) == "api-gateway-old"
    assert "api-gateway-old" not in double.revision_processes()
    with pytest.raises(exceptions.NotFound):
        revisions.get_revision(name=first.latest_created_revision)


def test_revision_environment_layers_platform_template_and_cloud_run_values(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "env"
    with CloudRunDouble(
        workdir,
        operation_delay=0.0,
        image_command=fixture_app_command,
        platform_env={"GOOGLE_CLOUD_PROJECT": "clarity-test", "SHARED": "platform"},
        require_auth=False,
    ) as double:
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": double.endpoint},
        )
        service = create(client, revision="api-gateway-env", env={"SHARED": "template"})

        def env(name: str) -> str:
            value: str = httpx.get(f"{service.uri}/env/{name}", timeout=5).json()["value"]
            return value

        assert env("GOOGLE_CLOUD_PROJECT") == "clarity-test"
        assert env("SHARED") == "template"
        assert env("K_SERVICE") == env("K_CONFIGURATION") == "api-gateway"
        assert env("K_REVISION") == "api-gateway-env"
        assert env("PORT") == str(double.revision_processes()["api-gateway-env"].port)
        assert env("PYTHONPATH").endswith("/src")
        assert (workdir / "api-gateway-env.log").exists()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
