"""Google's token endpoints on 127.0.0.1, and the credential files that point at them.

The delivery library authenticates with google-auth's production code, unchanged: a
service-account key file sends its signed assertion to the file's ``token_uri``; a workload
identity federation file (what google-github-actions/auth writes in CI) fetches GitHub's OIDC
token from ``credential_source.url``, exchanges it at ``token_url`` (STS) and impersonates the
deployer at ``service_account_impersonation_url``; the probes' ID tokens come from the IAM
Credentials API's ``generateIdToken``. Every one of those URLs can point here
(:mod:`tests.doubles.iam` holds what each endpoint does and checks).

With a :attr:`TokenEndpoint.policy` (derived from Terraform by the delivery tests) the
endpoints enforce IAM as Google does; the same object is what the Cloud Run double asks who
a caller is, whether IAM lets it, and whether an ID token is genuine.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.doubles._http import JsonHandler
from tests.doubles.iam import (
    IamPolicy,
    IdentityEndpoints,
    TokenAuthority,
    WorkloadIdentityProvider,
    parse_json,
)

__all__ = ["TokenEndpoint"]

_IAM_PREFIX = "/v1/projects/-/serviceAccounts/"


class TokenEndpoint:
    """OAuth, STS, IAM Credentials and GitHub's token URL on one local port."""

    def __init__(self, email: str = "deployer@clarity-test.iam.gserviceaccount.com") -> None:
        self.email = email
        self.authority = TokenAuthority()
        self._endpoints = IdentityEndpoints(self.authority, lambda: self.token_uri)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; also the IAM Credentials API endpoint to configure."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        """Where service-account key files send their assertions."""
        return f"{self.url}/token"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> TokenEndpoint:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if started) and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    @property
    def endpoints(self) -> IdentityEndpoints:
        """What each token endpoint answers, for a front end under Google's own host names
        (:mod:`tests.doubles.google_identity`): one authority, one policy."""
        return self._endpoints

    # ------------------------------------------------------------------ IAM
    @property
    def policy(self) -> IamPolicy | None:
        """The IAM bindings enforced (None: every authenticated call is allowed)."""
        return self._endpoints.policy

    @policy.setter
    def policy(self, value: IamPolicy | None) -> None:
        self._endpoints.policy = value

    @property
    def providers(self) -> list[WorkloadIdentityProvider]:
        """The workload identity providers STS accepts tokens for."""
        return list(self._endpoints.providers)

    def add_provider(self, provider: WorkloadIdentityProvider) -> None:
        """Accept GitHub tokens for ``provider`` at the STS endpoint."""
        self._endpoints.providers.append(provider)

    def caller(self, authorization: str) -> frozenset[str]:
        """The IAM members an ``Authorization: Bearer`` access token stands for."""
        return self.authority.members_of(authorization)

    def allows(self, members: Iterable[str], permission: str, resource: str) -> bool:
        """Whether IAM lets ``members`` use ``permission`` on ``resource``."""
        policy = self._endpoints.policy
        return policy is None or policy.allows(members, permission, resource)

    def mint_id_token(self, email: str, audience: str) -> str:
        """An ID token of ``email``, as the metadata server of an instance running as it gives."""
        return self.authority.mint_id_token(email, audience)

    def verify_id_token(self, token: str) -> dict[str, Any]:
        """The claims of a genuine, unexpired ID token issued here; InvalidToken otherwise."""
        return self.authority.verify_id_token(token)

    # ------------------------------------------------------------------ what was issued
    @property
    def issued(self) -> list[dict[str, Any]]:
        """Every grant answered: who (``sub``), for which ``audience`` (ID tokens), how."""
        return list(self._endpoints.issued)

    def id_tokens_for(self, audience: str) -> int:
        """How many ID tokens were issued for ``audience``."""
        return sum(1 for i in self.authority.id_tokens if i["audience"] == audience)

    # ------------------------------------------------------------------ credential files
    def write_credentials(self, path: Path, email: str | None = None) -> Path:
        """A service-account key file (mode 0600) for ``email`` whose token_uri is here."""
        account = email or self.email
        key = self.authority.account_key(account)
        info = {
            "type": "service_account",
            "project_id": account.partition("@")[2].split(".")[0],
            "private_key_id": key.key_id,
            "private_key": key.private_pem,
            "client_email": account,
            "client_id": "1",
            "token_uri": self.token_uri,
        }
        return _write_private(path, info)

    def write_workload_identity(
        self, path: Path, *, provider: WorkloadIdentityProvider, service_account: str, ref: str
    ) -> Path:
        """The external_account file google-github-actions/auth writes for a job on ``ref``.

        GitHub's token comes from ``credential_source.url`` with the job's request token, as
        in a workflow; STS and impersonation are this endpoint.
        """
        request_token = "gha-" + secrets.token_urlsafe(12)
        self._endpoints.github_request_tokens[request_token] = {
            "repository_id": provider.repository_id,
            "owner_id": provider.owner_id,
            "ref": ref,
        }
        info = {
            "type": "external_account",
            "audience": provider.audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": f"{self.url}/v1/token",
            "service_account_impersonation_url": (
                f"{self.url}{_IAM_PREFIX}{service_account}:generateAccessToken"
            ),
            "credential_source": {
                "url": f"{self.url}/github-actions/token?audience={provider.token_audience}",
                "headers": {"Authorization": f"Bearer {request_token}"},
                "format": {"type": "json", "subject_token_field_name": "value"},
            },
        }
        return _write_private(path, info)

    def refresh_token_for(self, member: str) -> str:
        """A refresh token (of an ``authorized_user`` file, as ``gcloud auth
        application-default login`` writes one) good for access tokens of ``member``."""
        refresh_token = "1//local-" + secrets.token_urlsafe(12)
        self._endpoints.refresh_tokens[refresh_token] = member
        return refresh_token

    # ------------------------------------------------------------------ HTTP
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoints = self._endpoints

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib handler's name
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                path = unquote(urlsplit(self.path).path)
                authorization = self.headers.get("Authorization", "")
                if path == "/token":
                    self.reply_json(*endpoints.oauth_token(_form(raw)))
                elif path == "/v1/token":
                    self.reply_json(*endpoints.sts_token(_form(raw)))
                elif path.startswith(_IAM_PREFIX) and path.endswith(":generateAccessToken"):
                    email = path[len(_IAM_PREFIX) : -len(":generateAccessToken")]
                    self.reply_json(
                        *endpoints.generate_access_token(email, authorization, _json(raw))
                    )
                elif path.startswith(_IAM_PREFIX) and path.endswith(":generateIdToken"):
                    email = path[len(_IAM_PREFIX) : -len(":generateIdToken")]
                    self.reply_json(*endpoints.generate_id_token(email, authorization, _json(raw)))
                else:
                    self.reply_json(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

            def do_GET(self) -> None:  # noqa: N802 - the stdlib handler's name
                split = urlsplit(self.path)
                if split.path != "/github-actions/token":
                    self.reply_json(404, {"message": "Not Found"})
                    return
                audience = parse_qs(split.query).get("audience", [""])[0]
                self.reply_json(
                    *endpoints.github_token(self.headers.get("Authorization", ""), audience)
                )

        return Handler


def _form(raw: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(raw.decode()).items()}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        return parse_json(raw)
    except ValueError:
        return {}


def _write_private(path: Path, info: dict[str, Any]) -> Path:
    path.touch(mode=0o600)
    path.write_text(json.dumps(info))
    return path
