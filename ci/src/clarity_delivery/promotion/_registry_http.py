"""The registry HTTP API with the registries' token protocol: what a copy sends through.

A request answered 401 with a ``WWW-Authenticate`` challenge is retried once: with Basic
credentials (``Basic``), or with a token from the challenge's realm for the scopes the
request needs (``Bearer``), the realm asked with the same Basic credentials. For Artifact
Registry those are ``oauth2accesstoken`` and a Google access token. The authorization is
kept per host and scope set, so an upload session and its ``PUT`` share one. Refusals map
to the library's errors where they enter: 401/403 to :class:`PermissionDenied` (naming the
roles), 404 to :class:`CopyFailed`, no answer to :class:`ServiceUnreachable`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from .._errors import CopyFailed, PermissionDenied, ServiceUnreachable

__all__ = ["DIGEST", "ImageName", "RegistryCredentials", "RegistryHttp", "pull", "push"]

RegistryCredentials = Callable[[str], Awaitable[tuple[str, str] | None]]
"""Registry host -> (username, password) for Basic authentication, or None."""

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class ImageName:
    """A repository on a registry host: ``host/path``."""

    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}"

    @classmethod
    def parse(cls, reference: str) -> tuple[ImageName, str]:
        """``host/path@sha256:…`` or ``host/path:tag`` -> (name, digest or tag)."""
        name, at, digest = reference.partition("@")
        tag = ""
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            tag = last.split(":", 1)[1]
            name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        host, slash, path = name.partition("/")
        if not slash or not path or not ("." in host or ":" in host or host == "localhost"):
            msg = f"{reference!r} names no registry host: give host/repository@sha256:<digest>"
            raise CopyFailed(msg)
        if at and not DIGEST.match(digest):
            msg = f"{reference!r} has a malformed digest: expected sha256:<64 hex digits>"
            raise CopyFailed(msg)
        return cls(host, path), digest if at else tag or "latest"


def pull(name: ImageName) -> tuple[str, ...]:
    """The scopes that read ``name``."""
    return (f"repository:{name.path}:pull",)


def push(name: ImageName) -> tuple[str, ...]:
    """The scopes that write ``name``."""
    return (f"repository:{name.path}:pull,push",)


class RegistryHttp:
    """Requests to registries, authorized on demand; one instance per promotion."""

    def __init__(
        self,
        *,
        credentials: RegistryCredentials | None = None,
        endpoints: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``endpoints`` maps a registry host to the base URL it is reached at (tests); a
        loopback host is reached over plain HTTP, any other over HTTPS."""
        self._credentials = credentials
        self._endpoints = dict(endpoints or {})
        self.client = httpx.AsyncClient(
            transport=transport, timeout=_TIMEOUT, follow_redirects=True
        )
        self._auth: dict[tuple[str, tuple[str, ...]], str] = {}

    async def aclose(self) -> None:
        """Close the connections."""
        await self.client.aclose()

    def authorization(self, host: str, scopes: tuple[str, ...]) -> dict[str, str]:
        """The ``Authorization`` header earned for ``scopes`` on ``host`` (empty if none)."""
        value = self._auth.get((host, scopes))
        return {"Authorization": value} if value else {}

    def base(self, host: str) -> str:
        """The base URL of a registry host."""
        if host in self._endpoints:
            return self._endpoints[host].rstrip("/")
        scheme = "http" if host.rsplit(":", 1)[0] in _LOOPBACK else "https"
        return f"{scheme}://{host}"

    async def send(
        self,
        method: str,
        name: ImageName,
        path: str,
        scopes: tuple[str, ...],
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """``method /v2/{name}/{path}``, authorized for ``scopes`` when the registry asks."""
        url = f"{self.base(name.host)}/v2/{name.path}/{path}"
        request = (method, url, name, scopes)
        response = await self._request(request, content=content, headers=headers)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            challenge = response.headers.get("WWW-Authenticate", "")
            self._auth[(name.host, scopes)] = await self._authorize(name, challenge, scopes)
            response = await self._request(request, content=content, headers=headers)
        return response

    async def _request(
        self,
        request: tuple[str, str, ImageName, tuple[str, ...]],
        *,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        method, url, name, scopes = request
        sent = {**(headers or {}), **self.authorization(name.host, scopes)}
        try:
            return await self.client.request(method, url, content=content, headers=sent)
        except httpx.TransportError as exc:
            msg = f"the registry {name.host} did not answer ({method} {url}): {exc}"
            raise ServiceUnreachable(msg) from None

    async def _basic(self, host: str) -> str | None:
        found = await self._credentials(host) if self._credentials is not None else None
        if found is None:
            return None
        user, password = found
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def _authorize(self, name: ImageName, challenge: str, scopes: tuple[str, ...]) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        basic = await self._basic(name.host)
        if scheme == "basic" and basic is not None:
            return basic
        if scheme != "bearer" or "realm" not in challenge:
            msg = (
                f"the registry {name.host} asks for credentials ({challenge or 'no challenge'}) "
                "that were not given: pass --credentials with access to it"
            )
            raise PermissionDenied(msg)
        params = dict(_CHALLENGE.findall(challenge))
        query = [("service", params.get("service", name.host)), *(("scope", s) for s in scopes)]
        try:
            response = await self.client.get(
                params["realm"],
                params=query,
                headers={"Authorization": basic} if basic else {},
            )
        except (httpx.TransportError, KeyError) as exc:
            msg = f"the token service of {name.host} could not be reached: {exc}"
            raise ServiceUnreachable(msg) from None
        self.expect(response, (httpx.codes.OK,), f"getting a token for {', '.join(scopes)}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            msg = f"the token service of {name.host} returned no token"
            raise PermissionDenied(msg)
        return f"Bearer {token}"

    @staticmethod
    def expect(response: httpx.Response, codes: tuple[int, ...], what: str) -> None:
        """Return if ``response`` has one of ``codes``; else the error that says why not."""
        if response.status_code in codes:
            return
        try:
            detail = response.text[:300]
        except httpx.ResponseNotRead:
            detail = ""
        host = response.request.url.host
        if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            msg = (
                f"{host} refused {what} ({response.status_code}): the deployer needs "
                "roles/artifactregistry.reader on the source repository and "
                f"roles/artifactregistry.writer on the target. {detail}"
            ).strip()
            raise PermissionDenied(msg)
        if response.status_code == httpx.codes.NOT_FOUND:
            msg = f"{what}: not found on {host} (deleted by a cleanup policy?). {detail}".strip()
            raise CopyFailed(msg)
        msg = f"{what}: {host} answered {response.status_code}. {detail}".strip()
        raise CopyFailed(msg)
