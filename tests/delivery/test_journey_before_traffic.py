"""The user's journey as a rollout's evidence (``rollout.journey.before_traffic``), end to end.

The Cloud Run double's revisions are real backend processes on the emulators, and the Pub/Sub
emulator pushes ``healthkit-data-ingestion`` to the ML service's URL on the double (the same
topology script compose runs). The double's URLs require an ID token, which the emulator does
not sign: each push goes through :class:`OidcPush`, which adds what Terraform's push
subscription adds (an ID token of ``clarity-pubsub-push`` for the service's URL), and the
double verifies it and the account's invoker grant. A gateway candidate then has to carry a
synthetic batch through the whole flow, at its own tag URL, before it gets any traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from clarity_delivery import _state as st

from tests.delivery.stage import PROJECT, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators
from tests.support.oidc_push import OidcPush
from tests.support.stack import create_topology, delete_topology

pytestmark = [pytest.mark.delivery, pytest.mark.push, pytest.mark.timeout(240)]

GATEWAY = "api-gateway"
TIMEOUT_SECONDS = 8
PUSH_ACCOUNT = "clarity-pubsub-push"
"""The identity of Terraform's push subscriptions (terraform/stack/pubsub.tf)."""


@pytest.fixture
def flow_stage(
    tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators
) -> Iterator[Stage]:
    """Both services at 0.9.0 on the double, wired by Pub/Sub; the journey turned on."""
    journey = {"before_traffic": True, "timeout_seconds": TIMEOUT_SECONDS}
    with (
        open_stage(tmp_path, token_endpoint, emulators, journey=journey) as stage,
        push_to(stage, "ml-service") as ml_service,
        push_to(stage, GATEWAY) as gateway,
    ):
        project = emulators.for_project(PROJECT)
        create_topology(project, ml_service_url=ml_service.url, gateway_url=gateway.url)
        try:
            yield stage
        finally:
            delete_topology(project)


def push_to(stage: Stage, service: str) -> OidcPush:
    """Pushes to ``service`` as Terraform's subscriptions make them: with an ID token of the
    push account whose audience is the service's URL (``push_audience``)."""
    url = str(stage.service(service).uri)
    account = stage.terraform.account(PUSH_ACCOUNT)
    return OidcPush(url, lambda: stage.identity.mint_id_token(account, url))


def test_a_gateway_candidate_carries_a_synthetic_batch_through_the_flow_before_traffic(
    flow_stage: Stage, emulators: Emulators, capfd: pytest.CaptureFixture[str]
) -> None:
    assert flow_stage.deploy("1.1.0", extra=("--service", GATEWAY)) == 0

    assert flow_stage.traffic(GATEWAY) == {"clarity-api-gateway-1-1-0-c0ffee1": 100}
    (record,) = flow_stage.records()
    # The pre-traffic checks, the journey (one run), then the canary's steps.
    assert [(s["percent"], s["rounds"]) for s in record["steps"]] == [
        (0, 1),
        (0, 1),
        (25, 3),
        (50, 3),
        (100, 3),
    ]
    out = capfd.readouterr().out
    assert "journey ingest: stored and announced" in out
    assert "processed: an insight of its samples" in out
    insights = emulators.for_project(PROJECT).documents("insights")
    (synthetic,) = [i for i in insights.values() if i["user_id"] == "e2e-journey"]
    assert synthetic["expire_at"]
    # The batch reached the ML service as a verified push of the push account; an unsigned
    # push (the emulator's own) would be refused.
    ml_service = flow_stage.service("ml-service")
    pushes = [
        r
        for r in flow_stage.double.proxy_log
        if r.service == ml_service.name.rsplit("/", 1)[-1] and r.path.startswith("/v1/pubsub/")
    ]
    assert pushes
    assert all(r.authorized and r.audience == str(ml_service.uri) for r in pushes)
    unsigned = httpx.post(
        f"{ml_service.uri}/v1/pubsub/healthkit-data-ingestion", json={}, timeout=10
    )
    assert unsigned.status_code in {401, 403}


def test_a_candidate_whose_flow_is_broken_is_rolled_back_though_its_health_is_green(
    flow_stage: Stage, emulators: Emulators, capfd: pytest.CaptureFixture[str]
) -> None:
    base = next(iter(flow_stage.traffic(GATEWAY)))
    # Nothing delivers ingested batches any more: the push becomes a pull nobody reads.
    subscription = f"projects/{PROJECT}/subscriptions/healthkit-data-ingestion-ml"
    httpx.post(
        f"http://{emulators.pubsub_host}/v1/{subscription}:modifyPushConfig",
        json={"pushConfig": {}},
        timeout=10,
    ).raise_for_status()

    assert flow_stage.deploy("1.1.0", extra=("--service", GATEWAY)) == 1

    assert flow_stage.traffic(GATEWAY) == {base: 100}
    assert st.history_of(flow_stage.service(GATEWAY))[-1].outcome == "rolled_back"
    (record,) = flow_stage.records()
    assert [(s["percent"], s["failed_rounds"]) for s in record["steps"]] == [(0, 0), (0, 1)]
    err = capfd.readouterr().err
    assert "candidate failed the user journey before taking traffic" in err
    assert f"still pending after {TIMEOUT_SECONDS} s: nothing processed it" in err
