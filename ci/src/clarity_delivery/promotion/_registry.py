"""Copying an image from one registry repository to another by digest (OCI distribution API).

What a promotion needs and nothing more: read a manifest by digest (an index and the
manifests it lists, or one image manifest), make each blob it names exist in the target —
already there, mounted from the source repository when both are on one host (the
distribution spec's cross-repository mount; Artifact Registry and Docker's registry honour
it), or streamed from source to target with its sha256 checked on the way — then put the
manifest's bytes unchanged, so the digest the target reports is the source's. The version
tag goes on too (a registry's cleanup of untagged images would otherwise delete what prod
runs), and so do cosign's signature and attestation artifacts (``sha256-<hex>.sig`` and
``.att`` tags beside the image): signatures are bound to the digest, not to the repository,
so they verify in the target as they did in the source.

Requests go through :class:`~._registry_http.RegistryHttp` (authorization, errors).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import httpx

from .._errors import CopyFailed, ServiceUnreachable
from ._registry_http import DIGEST, ImageName, RegistryCredentials, RegistryHttp, pull, push

__all__ = ["ARTIFACT_SUFFIXES", "MANIFEST_TYPES", "CopyReport", "Registry"]

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    *_INDEX_TYPES,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ARTIFACT_SUFFIXES = (".sig", ".att")
"""cosign's tags beside an image: its signatures and its attestations (the SBOM)."""


@dataclass
class CopyReport:
    """What copying one image did."""

    source: str
    target: str
    digest: str
    tags: tuple[str, ...] = ()
    mounted: int = 0
    uploaded: int = 0
    present: int = 0
    artifacts: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """``… -> …: 3 blobs mounted, 0 uploaded, 1 present; tags 1.4.0; artifacts …``."""
        text = (
            f"{self.source} -> {self.target}: {self.mounted} blobs mounted, "
            f"{self.uploaded} uploaded, {self.present} already there"
        )
        if self.tags:
            text += f"; tagged {', '.join(self.tags)}"
        if self.artifacts:
            text += f"; with {', '.join(self.artifacts)}"
        return text


@dataclass(frozen=True)
class _Manifest:
    media_type: str
    content: bytes
    digest: str

    def parsed(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.content)
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in _INDEX_TYPES

    def children(self) -> list[str]:
        return [str(entry["digest"]) for entry in self.parsed().get("manifests", [])]

    def blobs(self) -> list[tuple[str, int]]:
        data = self.parsed()
        entries = [data["config"], *data.get("layers", [])] if "config" in data else []
        return [(str(entry["digest"]), int(entry["size"])) for entry in entries]


def _digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


class Registry:
    """Copies images between repositories by digest; one instance per promotion."""

    def __init__(
        self,
        *,
        credentials: RegistryCredentials | None = None,
        endpoints: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """See :class:`~._registry_http.RegistryHttp` for ``credentials`` and ``endpoints``."""
        self._http = RegistryHttp(credentials=credentials, endpoints=endpoints, transport=transport)

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ copy

    async def copy(self, source: str, target: str, *, tags: Sequence[str] = ()) -> CopyReport:
        """Copy ``source`` (``host/path@sha256:…``) to ``target`` (same digest), tag it, and
        bring cosign's artifacts along; verify the target serves the very same digest."""
        src, digest = ImageName.parse(source)
        dst, wanted = ImageName.parse(target)
        if not DIGEST.match(digest) or wanted != digest:
            msg = f"a copy goes by digest: {source} -> {target} must name one sha256 digest"
            raise CopyFailed(msg)
        report = CopyReport(source=source, target=target, digest=digest, tags=tuple(tags))
        manifest = await self._manifest(src, digest)
        await self._copy_manifest(src, dst, manifest, report)
        for tag in tags:
            await self._put_manifest(dst, tag, manifest)
        for suffix in ARTIFACT_SUFFIXES:
            tag = digest.replace(":", "-") + suffix
            artifact = await self._manifest(src, tag, missing_ok=True)
            if artifact is not None:
                await self._copy_manifest(src, dst, artifact, report)
                await self._put_manifest(dst, tag, artifact)
                report.artifacts.append(tag)
        served = await self._served_digest(dst, digest)
        if served != digest:
            msg = f"{dst} serves {served} for {digest} after the copy: not the same image"
            raise CopyFailed(msg)
        return report

    async def _copy_manifest(
        self, src: ImageName, dst: ImageName, manifest: _Manifest, report: CopyReport
    ) -> None:
        """Everything ``manifest`` names first (children, blobs), then the manifest itself."""
        if manifest.is_index:
            for child in manifest.children():
                await self._copy_manifest(src, dst, await self._manifest(src, child), report)
        else:
            for blob, size in manifest.blobs():
                await self._copy_blob(src, dst, blob, size, report)
        await self._put_manifest(dst, manifest.digest, manifest)

    # ------------------------------------------------------------------ manifests

    @overload
    async def _manifest(self, name: ImageName, reference: str) -> _Manifest: ...

    @overload
    async def _manifest(
        self, name: ImageName, reference: str, *, missing_ok: bool
    ) -> _Manifest | None: ...

    async def _manifest(
        self, name: ImageName, reference: str, *, missing_ok: bool = False
    ) -> _Manifest | None:
        response = await self._http.send(
            "GET",
            name,
            f"manifests/{reference}",
            pull(name),
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        if response.status_code == httpx.codes.NOT_FOUND and missing_ok:
            return None
        self._http.expect(response, (httpx.codes.OK,), f"reading {name}:{reference}")
        content = response.content
        digest = _digest(content)
        if DIGEST.match(reference) and digest != reference:
            msg = f"{name} served a manifest whose sha256 is {digest} for {reference}"
            raise CopyFailed(msg)
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = str(json.loads(content).get("mediaType", media_type))
        return _Manifest(media_type=media_type, content=content, digest=digest)

    async def _put_manifest(self, name: ImageName, reference: str, manifest: _Manifest) -> None:
        response = await self._http.send(
            "PUT",
            name,
            f"manifests/{reference}",
            push(name),
            content=manifest.content,
            headers={"Content-Type": manifest.media_type},
        )
        self._http.expect(response, (httpx.codes.CREATED,), f"writing {name}:{reference}")
        stored = response.headers.get("Docker-Content-Digest", manifest.digest)
        if stored != manifest.digest:
            msg = f"{name} stored {reference} as {stored}, not {manifest.digest}"
            raise CopyFailed(msg)

    async def _served_digest(self, name: ImageName, digest: str) -> str:
        response = await self._http.send(
            "HEAD",
            name,
            f"manifests/{digest}",
            pull(name),
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        self._http.expect(response, (httpx.codes.OK,), f"reading {name}@{digest}")
        return str(response.headers.get("Docker-Content-Digest", ""))

    # ------------------------------------------------------------------ blobs

    async def _copy_blob(
        self, src: ImageName, dst: ImageName, digest: str, size: int, report: CopyReport
    ) -> None:
        head = await self._http.send("HEAD", dst, f"blobs/{digest}", push(dst))
        if head.status_code == httpx.codes.OK:
            report.present += 1
            return
        scopes = push(dst)
        query = ""
        if src.host == dst.host:
            scopes = (*scopes, *pull(src))
            query = f"?mount={digest}&from={src.path}"
        started = await self._http.send("POST", dst, f"blobs/uploads/{query}", scopes)
        if started.status_code == httpx.codes.CREATED:
            report.mounted += 1
            return
        self._http.expect(started, (httpx.codes.ACCEPTED,), f"starting an upload to {dst}")
        location = httpx.URL(self._http.base(dst.host)).join(started.headers["Location"])
        target = location.copy_merge_params({"digest": digest})
        # The upload session was authorized for these scopes; the PUT continues it.
        await self._upload(src, dst, (digest, size), target, scopes)
        report.uploaded += 1

    async def _upload(
        self,
        src: ImageName,
        dst: ImageName,
        blob: tuple[str, int],
        location: httpx.URL,
        scopes: tuple[str, ...],
    ) -> None:
        digest, size = blob
        hasher = hashlib.sha256()
        url = f"{self._http.base(src.host)}/v2/{src.path}/blobs/{digest}"
        await self._http.send("HEAD", src, f"blobs/{digest}", pull(src))  # authorizes the stream
        try:
            async with self._http.client.stream(
                "GET", url, headers=self._http.authorization(src.host, pull(src))
            ) as served:
                if served.status_code != httpx.codes.OK:
                    await served.aread()
                self._http.expect(served, (httpx.codes.OK,), f"reading blob {digest} of {src}")

                async def body() -> AsyncIterator[bytes]:
                    async for chunk in served.aiter_raw():
                        hasher.update(chunk)
                        yield chunk

                # An explicit Content-Length: registries take a monolithic upload, not chunks.
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                    **self._http.authorization(dst.host, scopes),
                }
                response = await self._http.client.put(location, content=body(), headers=headers)
        except httpx.TransportError as exc:
            msg = f"copying blob {digest} from {src} to {dst} failed: {exc}"
            raise ServiceUnreachable(msg) from None
        if f"sha256:{hasher.hexdigest()}" != digest:
            msg = f"{src} served blob {digest} with other content (sha256:{hasher.hexdigest()})"
            raise CopyFailed(msg)
        self._http.expect(response, (httpx.codes.CREATED,), f"uploading blob {digest} to {dst}")
