"""Secret scan of a built image: every layer (``docker save``) and the image config.

Used by the container tier to show that no credential, key or build secret reached an image.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.docker import DockerEngine, DockerSetupError

__all__ = ["Finding", "scan_image"]


@dataclass(frozen=True)
class Finding:
    """Something secret-looking in an image: where (layer or config), what, and why."""

    where: str
    path: str
    reason: str


_SECRET_FILE_NAMES = re.compile(
    r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)|\.env|\.netrc|\.pypirc|\.git-credentials|\.npmrc"
    r"|credentials\.json|application_default_credentials\.json|\.docker/config\.json"
    r"|[^/]+\.(p12|pfx|jks|keystore))$"
)
_SECRET_CONTENT = {
    # A PEM header followed by a key body: libraries and parsers carry the bare header string.
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n"
        rb"(?:[\w-]+: [^\n]*\n)*\r?\n?(?:[A-Za-z0-9+/=]{40,}\r?\n){2}"
    ),
    "Google service-account key": re.compile(
        rb'"private_key"\s*:\s*"-----BEGIN [A-Z ]*PRIVATE KEY-----\\n[A-Za-z0-9+/=]{40,}'
    ),
    "AWS access key id": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# Files that embed well-known, published test keys. Matched by path; each entry says why.
_KNOWN_TEST_KEYS: Mapping[re.Pattern[str], str] = {
    re.compile(r"^usr/lib/x86_64-linux-gnu/libgnutls\.so\.[\d.]+$"): "GnuTLS self-test (GOST) keys",
}
_SECRET_ENV_NAME = re.compile(
    r"(?i)(secret|token|passw(or)?d|api_?key|private_?key|credential|access_?key)"
)
_MAX_SCANNED_FILE = 32 * 1024 * 1024


# A cheap first pass: files without any of these strings need no closer look.
_CANDIDATE = re.compile(
    rb"PRIVATE KEY-----|\"private_key\"|AKIA[0-9A-Z]{16}"
    rb"|gh[pousr]_[A-Za-z0-9]{36}|AIza[0-9A-Za-z_-]{35}"
)


@dataclass(frozen=True)
class _Forbidden:
    """Contents that must not appear in a layer: (size, sha256); only same-size files are hashed."""

    sizes: frozenset[int]
    entries: frozenset[tuple[int, str]]

    @classmethod
    def of(cls, files: Sequence[Path]) -> _Forbidden:
        entries = set()
        for path in files:
            data = path.read_bytes()
            entries.add((len(data), hashlib.sha256(data).hexdigest()))
        return cls(frozenset(size for size, _ in entries), frozenset(entries))

    def matches(self, data: bytes) -> bool:
        return (
            len(data) in self.sizes
            and (len(data), hashlib.sha256(data).hexdigest()) in self.entries
        )


def _scan_bytes(data: bytes, forbidden: _Forbidden) -> list[str]:
    reasons = []
    if _CANDIDATE.search(data):
        reasons = [
            f"contains a {what}"
            for what, pattern in _SECRET_CONTENT.items()
            if pattern.search(data)
        ]
    if forbidden.matches(data):
        reasons.append("is a file that must stay out of the image (build secret)")
    return reasons


# Layers are content-addressed (diff id): one identical in several images is scanned once.
_LAYER_CACHE: dict[tuple[str, _Forbidden], list[tuple[str, str]]] = {}


def _scan_layer(layer: IO[bytes], forbidden: _Forbidden) -> list[tuple[str, str]]:
    """(path, reason) pairs for one layer tar."""
    findings: list[tuple[str, str]] = []
    with tarfile.open(fileobj=layer, mode="r|*") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if Path(name).name.startswith(".wh."):
                continue
            if _SECRET_FILE_NAMES.search(name):
                findings.append((name, "file name of a credential"))
            if not member.isfile() or member.size > _MAX_SCANNED_FILE:
                continue
            handle = tar.extractfile(member)
            if handle is None:  # pragma: no cover - regular files always have data
                continue
            reasons = _scan_bytes(handle.read(), forbidden)
            if any(pattern.match(name) for pattern in _KNOWN_TEST_KEYS):
                reasons = [r for r in reasons if r != "contains a private key"]
            findings.extend((name, reason) for reason in reasons)
    return findings


def _scan_config(config: Mapping[str, Any], where: str) -> list[Finding]:
    findings: list[Finding] = []
    for entry in config.get("config", {}).get("Env") or []:
        name, _, value = str(entry).partition("=")
        if value and _SECRET_ENV_NAME.search(name):
            findings.append(
                Finding(where, f"ENV {name}", "environment variable named like a secret")
            )
    text = json.dumps(config).encode()
    findings.extend(
        Finding(where, "image config", f"contains a {what}")
        for what, pattern in _SECRET_CONTENT.items()
        if pattern.search(text.replace(b"\\n", b"\n").replace(b'\\"', b'"'))
    )
    return findings


def scan_image(
    engine: DockerEngine, ref: str, workdir: Path, *, forbidden_files: Sequence[Path] = ()
) -> list[Finding]:
    """Scan every layer of ``ref`` (``docker save``) and its config for secret-looking content.

    ``forbidden_files`` are files (a build secret such as the CA bundle) whose exact content
    must not appear in any layer.
    """
    forbidden = _Forbidden.of(forbidden_files)
    archive = workdir / f"{hashlib.sha256(ref.encode()).hexdigest()[:12]}.tar"
    engine.run("save", "--output", str(archive), ref)
    findings: list[Finding] = []
    try:
        with tarfile.open(archive) as image:
            manifest = json.load(_member(image, "manifest.json"))[0]
            config = json.load(_member(image, manifest["Config"]))
            findings += _scan_config(config, "image config")
            diff_ids = config["rootfs"]["diff_ids"]
            for index, (layer_name, diff_id) in enumerate(
                zip(manifest["Layers"], diff_ids, strict=True)
            ):
                key = (diff_id, forbidden)
                if key not in _LAYER_CACHE:
                    _LAYER_CACHE[key] = _scan_layer(_member(image, layer_name), forbidden)
                where = f"layer {index} ({diff_id[:19]})"
                findings += [Finding(where, path, reason) for path, reason in _LAYER_CACHE[key]]
    finally:
        archive.unlink(missing_ok=True)
    return findings


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = archive.extractfile(name)
    if handle is None:
        msg = f"{name} missing from the saved image"
        raise DockerSetupError(msg)
    return io.BytesIO(handle.read()) if name.endswith(".json") else handle
