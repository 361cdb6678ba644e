"""Revision clean-up end to end against the double: after each release where settings turn it
on, and by hand, including while another deploy is rolling out on the same service. The
fixture app stands in for the backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clarity_delivery import _state as st

from tests.delivery.stage import SERVICES, Stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators
from tests.support.processes import ManagedProcess, wait_for

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(180)]

ML = SERVICES["ml-service"]
GATEWAY = SERVICES["api-gateway"]


@pytest.fixture
def fast(tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators) -> Iterator[Stage]:
    with open_stage(
        tmp_path, token_endpoint, emulators, fixture_app=True, prune={"enabled": True, "keep": 1}
    ) as stage:
        yield stage


def _revisions(stage: Stage, service: str) -> set[str]:
    return {
        r.rsplit("/", 1)[-1]
        for r in stage.double.revision_processes()
        if r.startswith(service + "-")
    }


def _base(stage: Stage, service: str) -> str:
    (base,) = [r for r in _revisions(stage, service) if "-0" in r.removeprefix(service)[:3]]
    return base


def test_prune_during_a_rollout_and_after_each_release(
    fast: Stage, capfd: pytest.CaptureFixture[str]
) -> None:
    base = {key: _base(fast, name) for key, name in SERVICES.items()}
    assert fast.cli("prune", "--env", "dev", "--keep", "0") == 2
    assert "keep must be a whole number of at least 1" in capfd.readouterr().err
    assert fast.deploy("1.1.0") == 0
    # The clean-up after the release: 0.9.0 is 'previous', 1.1.0 'stable': nothing goes.
    assert "revision clean-up of dev: deleted 0" in capfd.readouterr().out
    assert fast.deploy("1.2.0", faults={"ml-service": "crash-on-start"}) == 1
    failed = f"{ML}-1-2-0-c0ffee1"
    assert failed in _revisions(fast, ML)

    # 1.3.0 rolls out in another process, slowly enough to be caught at 25 %.
    settings = fast.settings_dir / "dev" / "settings.json"
    data = json.loads(settings.read_text())
    data["rollout"].update({"analysis_interval_seconds": 1.5, "steps": [25, 100]})
    settings.write_text(json.dumps(data))
    summary = fast.workdir / "deploy-summary.md"
    images = [f"--image={s}={fast.image(s, '1.3.0')}" for s in SERVICES]
    deploy = ManagedProcess(
        fast.subprocess_argv("deploy", *fast.deploy_args("1.3.0", images)),
        env={**fast.subprocess_env(), "GITHUB_STEP_SUMMARY": str(summary)},
        log_path=fast.workdir / "deploy-1.3.0.log",
    ).start()
    candidate = f"{ML}-1-3-0-c0ffee1"
    try:
        wait_for(
            lambda: fast.traffic("ml-service").get(candidate) == 25,
            timeout=60,
            what="the 1.3.0 canary to reach 25 %",
        )
        lease = st.RolloutState.from_service(fast.service("ml-service"))
        assert lease is not None
        assert lease.candidate == candidate
        capfd.readouterr()
        assert fast.cli("prune", "--env", "dev", "--keep", "1", "--dry-run") == 0
        assert f"ml-service: would delete {failed} (1.2.0)" in capfd.readouterr().out
        assert failed in _revisions(fast, ML)
        assert fast.cli("prune", "--env", "dev", "--keep", "1") == 0
        out = capfd.readouterr().out
        wait_for(lambda: deploy.poll() is not None, timeout=120, what="the 1.3.0 deploy to end")
        code = deploy.poll()
    finally:
        deploy.stop()
    # Only the failed candidate went: not the rollout's candidate, stable or 'previous'.
    assert f"ml-service: deleted {failed} (1.2.0)" in out
    assert "revision clean-up of dev: deleted 1" in out
    assert failed not in _revisions(fast, ML)
    assert code == 0, deploy.log_tail()
    assert fast.traffic("ml-service") == {candidate: 100}

    # After 1.3.0, its own clean-up (keep 1) took 0.9.0 of both services, which was neither
    # stable nor 'previous' any more, and listed them in the job summary.
    for key, name in SERVICES.items():
        assert _revisions(fast, name) == {f"{name}-1-3-0-c0ffee1", f"{name}-1-1-0-c0ffee1"}
        assert st.tagged_revisions(fast.service(key))["previous"] == f"{name}-1-1-0-c0ffee1"
        assert f"| {key} | `{base[key]}` | 0.9.0 |" in summary.read_text()
    assert "revision clean-up of dev: deleted 2" in summary.read_text()
    deletes = [r for r in fast.double.api_log if r.rpc == "DeleteRevision"]
    assert [r.status for r in deletes] == [200, 200, 200]
