"""trivy image --input TARBALL: its cache lock, its input, its output file.

trivy 0.69 opens its scan cache (``<cache dir>/fanal/fanal.db``, BoltDB) with an exclusive
file lock held for the whole run and a five-second timeout (pkg/cache/fs.go). On a cache
volume mounted SHARED, two trivy runs at once meet that lock; LOCKED volumes are
serialized by the engine and PRIVATE ones are copies, so only SHARED can collide. The
output file is created with ``os.Create``: its directory must exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok
from tests.doubles.dagger_engine.contracts.linters import empty_sarif

__all__ = ["CONTRACTS"]

_FATAL: Final = "FATAL\tFatal error\t"


def _cache_dir(ex: Exec) -> str:
    return ex.option("--cache-dir") or ex.env.get("TRIVY_CACHE_DIR") or f"{ex.home()}/.cache/trivy"


def _report(ex: Exec, image: str, findings: int) -> bytes:
    fmt = ex.option("--format") or ex.option("-f") or "table"
    if fmt == "sarif":
        log = json.loads(empty_sarif("Trivy"))
        log["runs"][0]["results"] = [{"ruleId": f"CVE-MODELLED-{i}"} for i in range(findings)]
        return json.dumps(log).encode()
    if fmt == "cyclonedx":
        bom = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "metadata": {"component": {"type": "container", "name": image}},
            "components": [],
        }
        return json.dumps(bom).encode()
    return f"Total: {findings} (HIGH/CRITICAL, fixable)\n".encode()


def _scan(ex: Exec) -> Outcome:
    tarball = ex.option("--input")
    if tarball is None:
        return fail(f"{_FATAL}the engine double models trivy image --input only")
    try:
        archive = json.loads(ex.fs.read(ex.path(tarball)))
    except ExecFsError as exc:
        return fail(
            f"{_FATAL}run error: image scan error: scan error: unable to initialize a scan service: unable to initialize artifact: {exc}"
        )
    image = str(archive["image"])
    findings = ex.world.findings.get(image, 0)
    report = _report(ex, image, findings)
    output = ex.option("--output") or ex.option("-o")
    if output is None:
        stdout = report.decode()
    else:
        try:
            ex.fs.write(ex.path(output), report)
        except ExecFsError as exc:
            return fail(
                f"{_FATAL}run error: report error: unable to write results: failed to create a file: failed to create output file: {exc}"
            )
        stdout = ""
    threshold = ex.option("--exit-code")
    if threshold and threshold != "0" and findings:
        return Outcome(exit_code=int(threshold), stdout=stdout)
    return ok(stdout)


def trivy(ex: Exec) -> Outcome:
    """trivy image: takes the scan cache's lock for its whole run."""
    if ex.args[:1] != ("image",):
        return fail(
            f"{_FATAL}the engine double has no contract for `trivy {' '.join(ex.args[:1])}`"
        )
    cache = _cache_dir(ex)
    mount = ex.mount_at(cache)
    shared = mount is not None and mount.kind == "cache" and mount.sharing == "SHARED"
    if not shared:
        ex.world.run_for("trivy")
        return _scan(ex)
    assert mount is not None
    assert mount.cache is not None
    with ex.world.flock(f"{mount.cache.key}:fanal.db") as taken:
        if not taken:
            return fail(
                f"{_FATAL}run error: image scan error: scan error: unable to initialize a scan "
                "service: unable to initialize cache: unable to initialize fs cache: cache may "
                "be in use by another process: timeout"
            )
        ex.world.run_for("trivy")
        return _scan(ex)


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"trivy": trivy}
