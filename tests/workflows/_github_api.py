"""A local stand-in for the GitHub REST API calls scripts/security_issue.py makes.

It serves issues, issue comments and labels of one repository from memory, checks the bearer
token, and records every request, so a test asserts what the script changed on "GitHub".
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPOSITORY = "clarity-loop/clarity-loop-backend"
TOKEN = "ghs_test-token-for-the-double"  # pragma: allowlist secret (a test stand-in)

_ISSUES = re.compile(rf"^/repos/{REPOSITORY}/issues$")
_ISSUE = re.compile(rf"^/repos/{REPOSITORY}/issues/(\d+)$")
_COMMENTS = re.compile(rf"^/repos/{REPOSITORY}/issues/(\d+)/comments$")
_LABELS = re.compile(rf"^/repos/{REPOSITORY}/labels$")
_LABEL = re.compile(rf"^/repos/{REPOSITORY}/labels/([^/]+)$")


@dataclass
class State:
    """What the double holds and what it was asked."""

    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: Answer every request with this status instead (simulates a missing permission).
    refuse_with: int | None = None

    def add_issue(self, body: str, labels: list[str], *, pull_request: bool = False) -> int:
        """An existing issue (or pull request), as the repository already holds it."""
        number = len(self.issues) + 1
        issue: dict[str, Any] = {
            "number": number,
            "state": "open",
            "title": "existing",
            "body": body,
            "labels": [{"name": name} for name in labels],
        }
        if pull_request:
            issue["pull_request"] = {"url": "https://example.test/pr"}
        self.issues[number] = issue
        return number

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Every request that could change something."""
        return [(method, path) for method, path in self.requests if method != "GET"]


class _Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is the assertions."""

    def _answer(self, status: int, payload: Any = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        data: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return data

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        self.state.requests.append((method, url.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"message": "Bad credentials"})
            return
        if self.state.refuse_with is not None:
            self._answer(self.state.refuse_with, {"message": "Resource not accessible"})
            return
        issues = self.state.issues
        if method == "GET" and _ISSUES.match(url.path):
            query = parse_qs(url.query)
            wanted = set(query.get("labels", [""])[0].split(",")) - {""}
            found = [
                issue
                for issue in issues.values()
                if issue["state"] == query.get("state", ["open"])[0]
                and wanted <= {label["name"] for label in issue["labels"]}
            ]
            self._answer(200, found)
        elif method == "POST" and _ISSUES.match(url.path):
            body = self._body()
            number = self.state.add_issue(body["body"], body.get("labels", []))
            issues[number]["title"] = body["title"]
            self._answer(201, issues[number])
        elif method == "PATCH" and (match := _ISSUE.match(url.path)):
            issue = issues[int(match[1])]
            issue.update(self._body())
            self._answer(200, issue)
        elif method == "POST" and (match := _COMMENTS.match(url.path)):
            self.state.comments.setdefault(int(match[1]), []).append(self._body()["body"])
            self._answer(201, {"id": 1})
        elif method == "GET" and (match := _LABEL.match(url.path)):
            name = match[1]
            if name in self.state.labels:
                self._answer(200, {"name": name})
            else:
                self._answer(404, {"message": "Not Found"})
        elif method == "POST" and _LABELS.match(url.path):
            self.state.labels.add(self._body()["name"])
            self._answer(201, {})
        else:
            self._answer(404, {"message": f"no route for {method} {url.path}"})

    def do_GET(self) -> None:
        """GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """POST."""
        self._handle("POST")

    def do_PATCH(self) -> None:
        """PATCH."""
        self._handle("PATCH")


@contextmanager
def github_api() -> Iterator[tuple[str, State]]:
    """Serve the double on a free port; yields its base URL and state."""
    state = State()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
