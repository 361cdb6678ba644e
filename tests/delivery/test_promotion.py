"""``clarity-deploy staged`` and ``promote`` end to end: staging's rollouts on the Cloud Run
double leave their records on the services; ``staged`` reads the release that passed from
them, ``promote`` copies exactly those digests by digest into prod's repository on a real
registry (Debian's docker-registry, reached as Artifact Registry's host through
``--registry-endpoint``), with cosign's signature artifact beside each, and refuses anything
staging did not pass before prod's repository changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.stage import PROJECT, REGION, SERVICES, Stage, write_settings
from tests.support.docker import LocalRegistry, start_registry

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(240)]

HOST = f"{REGION}-docker.pkg.dev"
PROD_PROJECT = "clarity-test-prod"
STAGING_REPOSITORY = f"{PROJECT}/clarity"
PROD_REPOSITORY = f"{PROD_PROJECT}/clarity"
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
# What the test rollouts need: no soak, no metric windows (the fixture app has no traffic), and
# no performance gate (staging's is a minute of load per service; its own tests are in
# test_performance_gate.py, and what promotion reads is the record, not how it was earned).
FAST = {
    "bake_seconds": 0,
    "metric_analysis": {"enabled": False},
    "performance_gate": {"enabled": False},
}


def _digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


class Pusher:
    """Pushes small OCI images into a registry through the distribution API, as a build does."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.base = f"http://{registry.address}/v2"

    def blob(self, repository: str, content: bytes) -> dict[str, Any]:
        started = httpx.post(f"{self.base}/{repository}/blobs/uploads/", timeout=30)
        started.raise_for_status()
        location = httpx.URL(self.base).join(started.headers["Location"])
        put = httpx.put(
            location.copy_merge_params({"digest": _digest(content)}),
            content=content,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        put.raise_for_status()
        return {"digest": _digest(content), "size": len(content)}

    def manifest(self, repository: str, reference: str, manifest: dict[str, Any]) -> str:
        content = json.dumps(manifest).encode()
        response = httpx.put(
            f"{self.base}/{repository}/manifests/{reference}",
            content=content,
            headers={"Content-Type": OCI_MANIFEST},
            timeout=30,
        )
        response.raise_for_status()
        assert response.headers["Docker-Content-Digest"] == _digest(content)
        return _digest(content)

    def image(self, repository: str, tag: str, layer: bytes) -> str:
        """An image (config and one layer) tagged ``tag``, and its cosign signature artifact."""
        config = self.blob(repository, json.dumps({"os": "linux", "layer": tag}).encode())
        digest = self.manifest(
            repository,
            tag,
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **config},
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        **self.blob(repository, layer),
                    }
                ],
            },
        )
        payload = json.dumps({"critical": {"image": {"docker-manifest-digest": digest}}})
        self.manifest(
            repository,
            digest.replace(":", "-") + ".sig",
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **self.blob(repository, b"{}")},
                "layers": [
                    {
                        "mediaType": COSIGN_SIGNATURE,
                        **self.blob(repository, payload.encode()),
                        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ..."},
                    }
                ],
            },
        )
        return digest


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    local = start_registry(tmp_path / "registry")
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def promoted_stage(fixture_stage: Stage) -> Stage:
    """The fixture stage's services as staging's (records read there), and prod's settings
    in another project (another repository to copy into)."""
    write_settings(fixture_stage.settings_dir, FAST, env="staging", transactions=False)
    prod = write_settings(fixture_stage.settings_dir, FAST, env="prod", transactions=False)
    path = prod / "prod" / "settings.json"
    data = json.loads(path.read_text())
    data["project_id"] = PROD_PROJECT
    path.write_text(json.dumps(data))
    return fixture_stage


def _images(pusher: Pusher, version: str) -> dict[str, str]:
    """Both services built and published to staging's repository: digest references."""
    out = {}
    for service in SERVICES:
        repository = f"{STAGING_REPOSITORY}/{service}"
        digest = pusher.image(repository, version, f"{service} {version}".encode())
        out[service] = f"{HOST}/{repository}@{digest}"
    return out


def _deploy_staging(stage: Stage, version: str, images: dict[str, str]) -> int:
    return stage.cli(
        "deploy",
        "--env",
        "staging",
        "--version",
        version,
        "--commit",
        COMMIT,
        *(f"--image={service}={ref}" for service, ref in images.items()),
    )


def _staged(stage: Stage, version: str, result: Path) -> int:
    argv = ("staged", "--env", "staging", "--version", version, "--commit", COMMIT)
    return stage.cli(*argv, "--result", str(result))


def _promote(
    stage: Stage, registry: LocalRegistry, version: str, images: dict[str, str], result: Path
) -> int:
    return stage.cli(
        "promote",
        "--from",
        "staging",
        "--to",
        "prod",
        "--version",
        version,
        "--commit",
        COMMIT,
        *(f"--image={service}={ref}" for service, ref in images.items()),
        f"--registry-endpoint={HOST}=http://{registry.address}",
        "--result",
        str(result),
    )


def _prod_tags(registry: LocalRegistry, service: str) -> list[str]:
    response = httpx.get(
        f"http://{registry.address}/v2/{PROD_REPOSITORY}/{service}/tags/list", timeout=30
    )
    if response.status_code == httpx.codes.NOT_FOUND:
        return []
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])


def test_promote_copies_exactly_the_digests_staging_passed(
    promoted_stage: Stage, registry: LocalRegistry, tmp_path: Path
) -> None:
    stage = promoted_stage
    images = _images(Pusher(registry), "1.4.0")
    assert _deploy_staging(stage, "1.4.0", images) == 0
    assert _staged(stage, "1.4.0", tmp_path / "staged.json") == 0
    staged = json.loads((tmp_path / "staged.json").read_text())
    (record,) = [r for r in stage.records() if r["environment"] == "staging"]
    assert staged["record"] == record["id"], "the record kept on staging's services"
    assert staged["images"] == images
    assert staged["commit"] == COMMIT

    assert _promote(stage, registry, "1.4.0", staged["images"], tmp_path / "promoted.json") == 0
    promoted = json.loads((tmp_path / "promoted.json").read_text())
    assert (promoted["from"], promoted["to"], promoted["record"]) == (
        "staging",
        "prod",
        record["id"],
    )
    for service, source in images.items():
        digest = source.rsplit("@", 1)[1]
        target = f"{HOST}/{PROD_REPOSITORY}/{service}@{digest}"
        assert promoted["images"][service] == target
        assert promoted["sources"][service] == source
        # The registry serves prod's copy under the very digest, and the bytes behind it.
        repository = f"{PROD_REPOSITORY}/{service}"
        assert registry.manifest_digest(repository, digest) == digest
        assert registry.manifest_digest(repository, "1.4.0") == digest
        manifest = registry.manifest(repository, digest)
        for blob in [manifest["config"], *manifest["layers"]]:
            assert _digest(registry.blob(repository, blob["digest"])) == blob["digest"]
        # cosign's signature came along: it names the digest, so it verifies in prod too.
        signature = digest.replace(":", "-") + ".sig"
        assert _prod_tags(registry, service) == sorted(["1.4.0", signature])
        sig = registry.manifest(repository, signature)
        payload = json.loads(registry.blob(repository, sig["layers"][0]["digest"]))
        assert payload["critical"]["image"]["docker-manifest-digest"] == digest


def test_promote_refuses_what_staging_did_not_pass_and_prod_is_untouched(
    promoted_stage: Stage,
    registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stage = promoted_stage
    pusher = Pusher(registry)
    passed = _images(pusher, "1.4.0")
    assert _deploy_staging(stage, "1.4.0", passed) == 0
    # 1.5.0 fails its health checks in staging and is rolled back.
    failed = _images(pusher, "1.5.0")
    stage.faults[failed["ml-service"]] = "health-500"
    assert _deploy_staging(stage, "1.5.0", failed) == 1
    capsys.readouterr()

    assert _staged(stage, "1.5.0", tmp_path / "failed.json") == 2
    assert "1.5.0 at 0123456789ab did not pass staging: its rollouts there ended" in (
        capsys.readouterr().err
    )
    assert _promote(stage, registry, "1.5.0", failed, tmp_path / "p.json") == 2
    assert "did not pass staging" in capsys.readouterr().err
    # A release staging passed, but with another digest than the record holds: refused.
    swapped = {**passed, "ml-service": failed["ml-service"]}
    assert _promote(stage, registry, "1.4.0", swapped, tmp_path / "p.json") == 2
    err = capsys.readouterr().err
    assert "are not those staging's record" in err
    assert "verify the signatures of exactly those, then promote them" in err
    # A version never deployed to staging: refused.
    assert _promote(stage, registry, "1.6.0", passed, tmp_path / "p.json") == 2
    assert "1.6.0 at 0123456789ab did not pass staging: never" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    assert all(_prod_tags(registry, service) == [] for service in SERVICES)


def test_a_release_by_tag_never_reaches_staging_so_it_is_not_promoted(
    promoted_stage: Stage,
    registry: LocalRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Staging runs only digests in its own repository (the rollout's image policy), so no
    release by tag is ever recorded there; the record check in ``staged`` (a tag-only
    reference is refused) is unit-tested in test_promotion_decisions.py."""
    stage = promoted_stage
    images = _images(Pusher(registry), "1.4.0")
    tagged = {service: ref.split("@", 1)[0] + ":1.4.0" for service, ref in images.items()}
    assert _deploy_staging(stage, "1.4.0", tagged) == 2
    assert "pinned by digest" in capsys.readouterr().err
    assert _staged(stage, "1.4.0", tmp_path / "staged.json") == 2
    capsys.readouterr()
    assert _promote(stage, registry, "1.4.0", images, tmp_path / "p.json") == 2
    assert all(_prod_tags(registry, service) == [] for service in SERVICES)
