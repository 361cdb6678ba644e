"""The copy by digest at the transport seam: the token protocol, and every way a registry can
refuse or lie. The copy against real registries is tests/containers/test_promotion_copy.py."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from clarity_delivery._errors import CopyFailed, PermissionDenied, ServiceUnreachable
from clarity_delivery.promotion import ImageName, Registry
from clarity_delivery.promotion._commands import _google
from google.auth.credentials import Credentials

pytestmark = pytest.mark.unit

HOST = "us-central1-docker.pkg.dev"
SOURCE = "clarity-loop-staging/clarity/api-gateway"
TARGET = "clarity-loop-production/clarity/api-gateway"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Registry_:  # noqa: N801 - a registry double, beside the Registry under test
    """A registry in memory, speaking the distribution API through ``httpx.MockTransport``."""

    token: str = ""
    """If set, every /v2/ request needs ``Bearer <token>``, issued by /token for Basic creds."""
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    token_requests: list[httpx.Request] = field(default_factory=list)
    tamper: Callable[[httpx.Request], httpx.Response | None] = lambda _: None

    def image(self, repository: str, layer: bytes) -> str:
        config = b'{"os": "linux"}'
        self.blobs |= {(repository, _digest(config)): config, (repository, _digest(layer)): layer}
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {"digest": _digest(config), "size": len(config)},
                "layers": [{"digest": _digest(layer), "size": len(layer)}],
            }
        ).encode()
        self.manifests[(repository, _digest(body))] = body
        return _digest(body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.token_requests.append(request)
            expected = base64.b64encode(b"oauth2accesstoken:google-token").decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return httpx.Response(401)
            return httpx.Response(200, json={"token": self.token})
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            challenge = f'Bearer realm="https://{HOST}/token",service="{HOST}"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if (tampered := self.tamper(request)) is not None:
            return tampered
        path = request.url.path.removeprefix("/v2/")
        if "/manifests/" in path:
            repository, reference = path.split("/manifests/")
            if request.method == "PUT":
                self.manifests[(repository, reference)] = request.content
                self.manifests[(repository, _digest(request.content))] = request.content
                return httpx.Response(
                    201, headers={"Docker-Content-Digest": _digest(request.content)}
                )
            body = self.manifests.get((repository, reference))
            if body is None:
                return httpx.Response(404)
            headers = {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": _digest(body)}
            return httpx.Response(200, content=body, headers=headers)
        if "/blobs/uploads/" in path:  # no cross-repository mount here: always an upload
            repository = path.split("/blobs/")[0]
            return httpx.Response(202, headers={"Location": f"/upload/{repository}?s=1"})
        if "/blobs/" in path:
            repository, digest = path.split("/blobs/")
            if (repository, digest) not in self.blobs:
                return httpx.Response(404)
            return httpx.Response(200, stream=_Streamed(self.blobs[repository, digest]))
        if request.url.path.startswith("/upload/"):
            repository = request.url.path.removeprefix("/upload/")
            self.blobs[repository, request.url.params["digest"]] = request.content
            return httpx.Response(201)
        return httpx.Response(404)


class _Streamed(httpx.AsyncByteStream):
    """A body that arrives as a stream, as blobs do over the network."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


def copy(registry: Registry_, digest: str, **options: object) -> object:
    async def run() -> object:
        async with Registry(transport=httpx.MockTransport(registry), **options) as client:  # type: ignore[arg-type]
            return await client.copy(
                f"{HOST}/{SOURCE}@{digest}", f"{HOST}/{TARGET}@{digest}", tags=("1.4.0",)
            )

    return anyio.run(run)


async def _google_login(host: str) -> tuple[str, str] | None:
    return ("oauth2accesstoken", "google-token") if host == HOST else None


def test_a_bearer_challenge_is_answered_with_a_token_for_the_scopes_the_copy_needs() -> None:
    registry = Registry_(token="registry-token")
    digest = registry.image(SOURCE, b"layer")
    report = copy(registry, digest, credentials=_google_login)
    assert registry.manifests[(TARGET, "1.4.0")] == registry.manifests[(SOURCE, digest)]
    assert "2 uploaded" in report.describe()  # type: ignore[attr-defined]
    scopes = {tuple(r.url.params.get_list("scope")) for r in registry.token_requests}
    assert (f"repository:{SOURCE}:pull",) in scopes
    assert (f"repository:{TARGET}:pull,push", f"repository:{SOURCE}:pull") in scopes
    assert {r.url.params["service"] for r in registry.token_requests} == {HOST}


def test_a_registry_that_asks_for_credentials_nobody_gave_is_refused_clearly() -> None:
    registry = Registry_(token="registry-token")
    digest = registry.image(SOURCE, b"layer")
    with pytest.raises(PermissionDenied, match="token for repository:"):
        copy(registry, digest)  # the token service refuses an anonymous request (401)


def test_a_forbidden_write_names_the_roles_the_deployer_needs() -> None:
    registry = Registry_()
    digest = registry.image(SOURCE, b"layer")

    def forbid(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(403, text="DENIED") if request.method == "POST" else None

    registry.tamper = forbid
    with pytest.raises(PermissionDenied) as denied:
        copy(registry, digest)
    assert "roles/artifactregistry.writer on the target" in denied.value.message
    assert "DENIED" in denied.value.message


def test_a_manifest_that_is_not_the_digest_it_was_asked_for_stops_the_copy() -> None:
    registry = Registry_()
    digest = registry.image(SOURCE, b"layer")
    registry.manifests[(SOURCE, digest)] = registry.manifests[(SOURCE, digest)] + b" "
    with pytest.raises(CopyFailed, match="served a manifest whose sha256 is"):
        copy(registry, digest)
    assert not any(repo == TARGET for repo, _ in registry.manifests), "nothing was written"


def test_a_blob_whose_content_is_not_its_digest_is_not_accepted() -> None:
    registry = Registry_()
    digest = registry.image(SOURCE, b"layer")
    registry.blobs[SOURCE, _digest(b"layer")] = b"other"  # the registry serves other bytes
    with pytest.raises(CopyFailed, match="with other content"):
        copy(registry, digest)


def test_a_target_that_serves_another_digest_after_the_copy_fails_it() -> None:
    registry = Registry_()
    digest = registry.image(SOURCE, b"layer")

    def lie(request: httpx.Request) -> httpx.Response | None:
        if (
            request.method == "HEAD"
            and TARGET in request.url.path
            and "manifests" in request.url.path
        ):
            return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + "0" * 64})
        return None

    registry.tamper = lie
    with pytest.raises(CopyFailed, match="after the copy: not the same image"):
        copy(registry, digest)


def test_a_source_deleted_meanwhile_is_named() -> None:
    registry = Registry_()
    with pytest.raises(CopyFailed, match=r"not found on .* \(deleted by a cleanup policy\?\)"):
        copy(registry, "sha256:" + "1" * 64)


def test_an_unreachable_registry_is_unreachable_not_a_traceback() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        message = "connection refused"
        raise httpx.ConnectError(message, request=request)

    async def run() -> None:
        async with Registry(transport=httpx.MockTransport(down)) as client:
            await client.copy(
                f"{HOST}/{SOURCE}@sha256:{'1' * 64}", f"{HOST}/{TARGET}@sha256:{'1' * 64}"
            )

    with pytest.raises(ServiceUnreachable, match=f"the registry {HOST} did not answer"):
        anyio.run(run)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (
            "api-gateway@sha256:" + "1" * 64,
            f"{HOST}/{TARGET}@sha256:" + "1" * 64,
            "no registry host",
        ),
        (f"{HOST}/{SOURCE}:1.4.0", f"{HOST}/{TARGET}:1.4.0", "a copy goes by digest"),
        (
            f"{HOST}/{SOURCE}@sha256:" + "1" * 64,
            f"{HOST}/{TARGET}@sha256:" + "2" * 64,
            "one sha256",
        ),
        (f"{HOST}/{SOURCE}@sha256:abc", f"{HOST}/{TARGET}@sha256:abc", "malformed digest"),
    ],
)
def test_only_one_digest_between_two_named_repositories_is_copied(
    source: str, target: str, message: str
) -> None:
    async def run() -> None:
        async with Registry(transport=httpx.MockTransport(Registry_())) as client:
            await client.copy(source, target)

    with pytest.raises(CopyFailed, match=message):
        anyio.run(run)


def test_image_names() -> None:
    assert ImageName.parse(f"{HOST}/{SOURCE}:1.4.0") == (ImageName(HOST, SOURCE), "1.4.0")
    assert ImageName.parse("localhost/x") == (ImageName("localhost", "x"), "latest")
    assert str(ImageName("127.0.0.1:5000", "a/b")) == "127.0.0.1:5000/a/b"


class _Token(Credentials):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.refreshed = 0

    def refresh(self, _request: object) -> None:
        self.refreshed += 1
        self.token = "google-token"

    def before_request(self, *args: object) -> None:  # pragma: no cover - not used here
        pass


def test_google_tokens_go_to_googles_registries_only() -> None:
    credentials = _Token()
    provide = _google(credentials)
    assert anyio.run(provide, "127.0.0.1:5000") is None
    assert anyio.run(provide, "registry.example.com") is None
    assert credentials.refreshed == 0, "no token was even minted for another host"
    assert anyio.run(provide, HOST) == ("oauth2accesstoken", "google-token")
    assert anyio.run(provide, "gcr.io") == ("oauth2accesstoken", "google-token")
