"""cosign sign / attest: readable key or token, registry credentials, a pushed digest.

cosign runs as the image's nonroot user (65532), so every file it opens must be readable
by that user: a secret mounted with the default owner (root) and mode 0400 is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS"]

_MAIN: Final = "main.go:74: error during command execution: "


def _error(message: str) -> Outcome:
    return fail(f"Error: {message}\n{_MAIN}{message}")


def cosign(ex: Exec) -> Outcome:
    """cosign sign|attest --yes (--key PATH | --identity-token PATH) [...] REFERENCE."""
    command = ex.args[0] if ex.args else ""
    if command not in ("sign", "attest"):
        return fail(f'Error: unknown command "{command}" for "cosign"')
    reference = ex.args[-1]
    what = f"signing [{reference}]" if command == "sign" else "attesting"
    key, token = ex.option("--key"), ex.option("--identity-token")
    try:
        if key is not None:
            ex.fs.read(key)
        elif token is not None:
            ex.fs.read(token)
        else:
            return _error(
                f"{what}: getting signer: no key or identity token (keyless needs an OIDC provider)"
            )
    except ExecFsError as exc:
        return _error(f"{what}: getting signer: reading key: {exc}")
    if command == "attest":
        predicate = ex.option("--predicate")
        try:
            ex.fs.read(predicate or "")
        except ExecFsError as exc:
            return _error(f"{what}: {exc}")
    if "@sha256:" not in reference:
        return _error(f"{what}: {reference} is not a digest reference")
    host = reference.split("/", 1)[0]
    config_dir = ex.env.get("DOCKER_CONFIG", f"{ex.home()}/.docker")
    try:
        auths = json.loads(ex.fs.read(f"{config_dir}/config.json")).get("auths", {})
    except ExecFsError:
        auths = {}
    if host not in auths:
        return _error(
            f"{what}: accessing entity: GET https://{host}/v2/: UNAUTHORIZED: authentication required"
        )
    if not ex.world.has_digest(reference):
        return _error(
            f"{what}: accessing entity: entity not found in registry: MANIFEST_UNKNOWN: {reference}"
        )
    ex.world.signed(command, reference)
    return ok(stderr=f"Pushing {'signature' if command == 'sign' else 'attestation'} to: {host}\n")


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"cosign": cosign}
