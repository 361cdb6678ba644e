"""cosign sign / attest / verify / verify-attestation: identity, registry credentials, digests.

cosign runs as the image's nonroot user (65532), so every file it opens must be readable
by that user: a secret mounted with the default owner (root) and mode 0400 is not.

Signing identities: ``--key`` (the key's text identifies it; a test pairs a public key with
it in ``World.cosign_key_pairs``), ``--identity-token`` (a token file), or, with neither,
GitHub Actions' ambient provider: cosign requests the job's OIDC token itself when
``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` and ``ACTIONS_ID_TOKEN_REQUEST_URL`` are set (its
``pkg/providers/github``), and Fulcio certifies the identity GitHub issued it for
(``World.github_identities``). Verification accepts a signature only from the identity
asked for: ``--key`` (the private key paired with that public key) or
``--certificate-identity`` with ``--certificate-oidc-issuer`` (both required in keyless
mode, as cosign 2 requires them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS", "key_identity"]

_MAIN: Final = "main.go:74: error during command execution: "
GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"
_REQUEST_TOKEN: Final = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
_REQUEST_URL: Final = "ACTIONS_ID_TOKEN_REQUEST_URL"


def _error(message: str) -> Outcome:
    return fail(f"Error: {message}\n{_MAIN}{message}")


def key_identity(private_key: str) -> str:
    """How the model names a signer that used this private key."""
    return "key:" + hashlib.sha256(private_key.encode()).hexdigest()[:16]


def _registry_problem(ex: Exec, what: str, reference: str) -> Outcome | None:
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
    return None


def _signer(ex: Exec, what: str) -> str | Outcome:
    key, token = ex.option("--key"), ex.option("--identity-token")
    try:
        if key is not None:
            return key_identity(ex.fs.read_text(key))
        if token is not None:
            return f"oidc:{ex.fs.read_text(token).strip()} {GITHUB_ISSUER}"
    except ExecFsError as exc:
        return _error(f"{what}: getting signer: reading key: {exc}")
    request = ex.env.get(_REQUEST_TOKEN)
    if not request or not ex.env.get(_REQUEST_URL):
        return _error(
            f"{what}: getting signer: no key or identity token (keyless needs an OIDC provider)"
        )
    identity = ex.world.github_identities.get(request)
    if identity is None:
        return _error(
            f"{what}: getting signer: getting key from Fulcio: retrieving cert: the GitHub "
            "OIDC token request was refused (401 Unauthorized)"
        )
    return f"{identity} {GITHUB_ISSUER}"


def _sign(ex: Exec, command: str) -> Outcome:
    reference = ex.args[-1]
    what = f"signing [{reference}]" if command == "sign" else "attesting"
    signer = _signer(ex, what)
    if isinstance(signer, Outcome):
        return signer
    if command == "attest":
        predicate = ex.option("--predicate")
        try:
            ex.fs.read(predicate or "")
        except ExecFsError as exc:
            return _error(f"{what}: {exc}")
    if (problem := _registry_problem(ex, what, reference)) is not None:
        return problem
    ex.world.signed(command, reference, signer)
    host = reference.split("/", 1)[0]
    return ok(stderr=f"Pushing {'signature' if command == 'sign' else 'attestation'} to: {host}\n")


def _expected(ex: Exec) -> str | Outcome:
    key = ex.option("--key")
    if key is not None:
        try:
            public = ex.fs.read_text(key)
        except ExecFsError as exc:
            return _error(f"loading public key: {exc}")
        private = ex.world.cosign_key_pairs.get(public)
        if private is None:
            return _error("loading public key: PEM decoding failed")
        return key_identity(private)
    identity = ex.option("--certificate-identity")
    issuer = ex.option("--certificate-oidc-issuer")
    if identity is None:
        return _error(
            "--certificate-identity or --certificate-identity-regexp is required for "
            "verification in keyless mode"
        )
    if issuer is None:
        return _error(
            "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for "
            "verification in keyless mode"
        )
    return f"{identity} {issuer}"


def _verify(ex: Exec, command: str) -> Outcome:
    reference = ex.args[-1]
    expected = _expected(ex)
    if isinstance(expected, Outcome):
        return expected
    if (problem := _registry_problem(ex, "verifying", reference)) is not None:
        return problem
    kind = "sign" if command == "verify" else "attest"
    if expected not in ex.world.signed_by(kind, reference):
        found = "signatures" if kind == "sign" else "attestations"
        return _error(f"no matching {found}: none of the expected identities matched")
    checks = (
        f"\nVerification for {reference} --\nThe following checks were performed on each of "
        "these signatures:\n  - The cosign claims were validated\n"
    )
    return ok(
        stdout=json.dumps(
            [{"critical": {"image": {"docker-manifest-digest": reference.split("@")[1]}}}]
        )
        + "\n",
        stderr=checks,
    )


def cosign(ex: Exec) -> Outcome:
    """cosign sign|attest|verify|verify-attestation [...] REFERENCE."""
    command = ex.args[0] if ex.args else ""
    if command in ("sign", "attest"):
        return _sign(ex, command)
    if command in ("verify", "verify-attestation"):
        return _verify(ex, command)
    return fail(f'Error: unknown command "{command}" for "cosign"')


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"cosign": cosign}
