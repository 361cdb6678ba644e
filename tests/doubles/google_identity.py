"""Google's token services reached under their real names, answered by the one local authority.

google-auth calls Security Token Service (workload identity federation), IAM Credentials
(impersonation, ``generateIdToken``) and the OAuth endpoint (user refresh tokens) at fixed
``https://*.googleapis.com`` addresses; ``generateIdToken`` cannot be redirected by any field of
a credentials file. So this double is an HTTPS proxy on 127.0.0.1 that answers ``CONNECT`` for
those hosts itself, with a certificate from its own throw-away CA: a process given
:meth:`GoogleIdentity.env` (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``) runs google-auth's production
code unchanged, TLS included. The same port serves the GCE metadata server over plain HTTP
(``GCE_METADATA_HOST``), as compute_engine credentials reach it.

It is only a front end: every answer comes from a :class:`~tests.doubles.oauth.TokenEndpoint`'s
endpoints (:mod:`tests.doubles.iam`), so its tokens are that authority's, IAM is that policy
(what Terraform grants, in the delivery tests), and the Cloud Run double that trusts the
authority verifies them as strictly as any other. Every request is recorded in :attr:`calls`.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.doubles.iam import WorkloadIdentityProvider
from tests.doubles.oauth import TokenEndpoint

__all__ = ["Call", "GoogleIdentity"]

HOSTS = ("sts.googleapis.com", "iamcredentials.googleapis.com", "oauth2.googleapis.com")
STS_URL = "https://sts.googleapis.com/v1/token"
IAM_URL = (
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateAccessToken"
)
_IAM_PREFIX = "/v1/projects/-/serviceAccounts/"
_METADATA = "/computeMetadata/v1/"


@dataclass(frozen=True)
class Call:
    """One request the double answered."""

    host: str
    method: str
    path: str
    body: dict[str, Any]
    authorization: str


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for :data:`HOSTS` signed by it; returns (ca.pem, leaf.pem, leaf.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clarity test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(leaf_key))
    paths[2].chmod(0o600)
    return paths


class GoogleIdentity:
    """STS, IAM Credentials, OAuth and the metadata server on one loopback port, answered by
    ``tokens``; the metadata server's instance runs as ``email``."""

    def __init__(self, workdir: Path, tokens: TokenEndpoint, *, email: str, project: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.tokens = tokens
        self.email = email
        self.project = project
        self.ca_bundle, leaf, leaf_key = _certificates(workdir)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(leaf, leaf_key)
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the proxy and the metadata server."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GoogleIdentity:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if started) and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def env(self) -> dict[str, str]:
        """What a process needs to reach this double instead of Google."""
        proxy = f"http://{self.address}"
        return {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
            "GCE_METADATA_HOST": self.address,
            "GCE_METADATA_IP": self.address,
        }

    def paths(self, host: str | None = None) -> list[str]:
        """The paths called so far (on ``host``), in order."""
        with self._lock:
            return [c.path for c in self.calls if host is None or c.host == host]

    # ------------------------------------------------------------------ credential files
    def write(self, path: Path, info: dict[str, Any]) -> Path:
        """A credentials file (mode 0600)."""
        path.touch(mode=0o600)
        path.write_text(json.dumps(info))
        return path

    def authorized_user(self, member: str) -> dict[str, Any]:
        """What ``gcloud auth application-default login`` writes for ``member`` (``user:...``)."""
        return {
            "type": "authorized_user",
            "client_id": "client.apps.googleusercontent.com",
            "client_secret": "local-secret",
            "refresh_token": self.tokens.refresh_token_for(member),
        }

    def external_account(
        self, subject_token: Path, provider: WorkloadIdentityProvider, *, ref: str
    ) -> dict[str, Any]:
        """What google-github-actions/auth writes for workload identity federation: the job's
        GitHub OIDC token (for ``ref``) in ``subject_token``, exchanged at STS, then the
        deployer (:attr:`email`) impersonated."""
        subject_token.write_text(
            self.tokens.authority.github_token(
                audience=provider.token_audience,
                repository_id=provider.repository_id,
                owner_id=provider.owner_id,
                ref=ref,
            )
        )
        return {
            "type": "external_account",
            "audience": provider.audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": STS_URL,
            "service_account_impersonation_url": IAM_URL.format(self.email),
            "credential_source": {"file": str(subject_token)},
        }

    def impersonated(self, member: str) -> dict[str, Any]:
        """What ``gcloud auth application-default login --impersonate-service-account`` writes
        for ``member``, impersonating the deployer (:attr:`email`)."""
        return {
            "type": "impersonated_service_account",
            "service_account_impersonation_url": IAM_URL.format(self.email),
            "source_credentials": self.authorized_user(member),
            "delegates": [],
        }

    # ------------------------------------------------------------------ answers
    def _answer(self, call: Call, query: dict[str, list[str]]) -> tuple[int, Any]:
        with self._lock:
            self.calls.append(call)
        endpoints = self.tokens.endpoints
        if call.host == "sts.googleapis.com" and call.path == "/v1/token":
            return endpoints.sts_token(_strings(call.body))
        if call.host == "oauth2.googleapis.com" and call.path == "/token":
            return endpoints.oauth_token(_strings(call.body))
        if call.host == "iamcredentials.googleapis.com" and call.path.startswith(_IAM_PREFIX):
            email, _, method = unquote(call.path.removeprefix(_IAM_PREFIX)).partition(":")
            if method == "generateAccessToken":
                return endpoints.generate_access_token(email, call.authorization, call.body)
            if method == "generateIdToken":
                return endpoints.generate_id_token(email, call.authorization, call.body)
        if call.host == "metadata" and call.path.startswith(_METADATA):
            return self._metadata(call.path.removeprefix(_METADATA), query)
        if call.host == "metadata" and call.path == "/":  # the metadata server's ping
            return 200, ""
        return 404, {"error": {"code": 404, "message": f"no such endpoint {call.path}"}}

    def _metadata(self, resource: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        endpoints = self.tokens.endpoints
        account = "instance/service-accounts/default"
        if resource == "project/project-id":
            return 200, self.project
        if resource == f"{account}/token":
            return endpoints.metadata_token(self.email)
        if resource == f"{account}/identity":
            return endpoints.metadata_id_token(self.email, query.get("audience", [""])[0])
        if resource in {account, f"{account}/"}:
            return 200, {
                "email": self.email,
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "aliases": ["default"],
            }
        if resource == f"{account}/email":
            return 200, self.email
        return 404, f"no metadata {resource}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        identity = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            host = ""

            def do_CONNECT(self) -> None:
                host = self.path.split(":")[0]
                if host not in HOSTS:
                    self.send_error(403, f"{host} is not a Google endpoint this double serves")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                tls = identity._tls.wrap_socket(self.connection, server_side=True)
                # One handler class per tunnel: the host it stands for is the CONNECT target.
                inner = type("TunnelHandler", (type(self),), {"host": host})
                try:
                    inner(tls, self.client_address, self.server)
                finally:
                    tls.close()

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length).decode() if length else ""
                try:
                    body = (
                        json.loads(raw)
                        if raw.startswith("{")
                        else {k: v[0] for k, v in parse_qs(raw).items()}
                    )
                except ValueError:
                    body = {}
                call = Call(
                    host=self.host or "metadata",
                    method=self.command,
                    path=url.path,
                    body=body,
                    authorization=self.headers.get("authorization", ""),
                )
                status, answer = identity._answer(call, parse_qs(url.query))
                data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                self.send_header(
                    "content-type",
                    "application/json" if not isinstance(answer, str) else "text/plain",
                )
                self.send_header("content-length", str(len(data)))
                if not self.host:
                    self.send_header("Metadata-Flavor", "Google")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815 - BaseHTTPRequestHandler's dispatch names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - silence
                return

        return Handler


def _strings(body: dict[str, Any]) -> dict[str, str]:
    """A form body's fields as strings (what the OAuth and STS endpoints read)."""
    return {key: str(value) for key, value in body.items()}
