"""Small helpers shared by the double's tests."""

from __future__ import annotations

import base64
import functools
import json

import grpc
from google.api_core import retry
from google.api_core.future import polling
from google.auth.credentials import AnonymousCredentials
from google.cloud import monitoring_v3, run_v2
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import (
    MetricServiceGrpcTransport,
)

# The client polls a long-running operation first after 1 s; the double finishes its
# operations in ~0.1 s, so poll sooner (the client code path is the same).
FAST_POLL = retry.Retry(
    predicate=polling.POLLING_PREDICATE, initial=0.05, maximum=0.5, multiplier=1.5, timeout=30
)

PARENT = "projects/clarity-test/locations/europe-west1"
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
IMAGE = "europe-docker.pkg.dev/p/clarity/api-gateway:1.0.0"


def bearer(audience: str = "https://api-gateway.example") -> dict[str, str]:
    """An Authorization header with an unsigned JWT naming ``audience``."""

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'none'})}.{part({'aud': audience})}.c2ln"
    return {"Authorization": f"Bearer {token}"}


def target(revision: str, percent: int, tag: str = "") -> run_v2.TrafficTarget:
    return run_v2.TrafficTarget(type_=REVISION, revision=revision, percent=percent, tag=tag)


def template(
    *,
    revision: str = "",
    image: str = IMAGE,
    env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> run_v2.RevisionTemplate:
    """A revision template with one container."""
    return run_v2.RevisionTemplate(
        revision=revision,
        labels=labels or {},
        containers=[
            run_v2.Container(
                image=image,
                env=[run_v2.EnvVar(name=k, value=v) for k, v in (env or {}).items()],
            )
        ],
    )


def create(
    services: run_v2.ServicesClient,
    service_id: str = "api-gateway",
    *,
    revision: str = "",
    env: dict[str, str] | None = None,
) -> run_v2.Service:
    """Create a service and wait for its operation."""
    operation = services.create_service(
        parent=PARENT,
        service_id=service_id,
        service=run_v2.Service(template=template(revision=revision, env=env)),
    )
    result: run_v2.Service = operation.result(timeout=30, polling=FAST_POLL)
    return result


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def monitoring_client(endpoint: str) -> monitoring_v3.MetricServiceClient:
    """The real Cloud Monitoring client against the double's Monitoring server.

    Only the channel credentials differ from production: gRPC local credentials (loopback,
    no TLS), which still carry the client's call credentials.
    """
    transport = functools.partial(
        MetricServiceGrpcTransport,
        ssl_channel_credentials=grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
    )
    return monitoring_v3.MetricServiceClient(
        credentials=AnonymousCredentials(),
        transport=transport,
        client_options={"api_endpoint": endpoint},
    )
