"""Keep one GitHub issue in step with the fixable HIGH/CRITICAL vulnerabilities of the images.

    python3 scripts/security_issue.py summarize REPORT_DIR IMAGE...   # prints findings=<json>
    python3 scripts/security_issue.py sync                             # reads FINDINGS

``summarize`` reads ``REPORT_DIR/<image>.sarif`` (``dagger call scan-report``, trivy's SARIF)
and prints one ``findings=`` line for ``$GITHUB_OUTPUT``. ``sync`` takes that JSON from
``FINDINGS`` and, through the REST API (``GITHUB_API_URL``, ``GITHUB_REPOSITORY``,
``GITHUB_TOKEN``), opens the issue on the first finding, updates it while the findings change
(a comment, which notifies, only when the set changed), and closes it after a complete scan
that found nothing. An incomplete scan with no findings leaves the issue alone.

Code scanning keeps each finding as an alert, but notifies nobody of a new alert on a branch;
the issue notifies the repository's watchers and whoever ``SECURITY_CONTACTS`` mentions.
Standard library only: it runs on the runner's own ``python3``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["BadInput", "Finding", "GitHub", "IssueError", "Summary", "main", "summarize", "sync"]

LABEL = "image-vulnerabilities"
MARKER = "<!-- clarity: image vulnerabilities -->"
_DIGEST = "<!-- findings: {} -->"
_SEVERITIES = ("CRITICAL", "HIGH")
_TIMEOUT = 30.0


class IssueError(Exception):
    """The GitHub API failed (exit 1); the message says how and what to do."""

    exit_code = 1


class BadInput(IssueError):
    """The input or the environment is not what the workflow gives (exit 2)."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Finding:
    """One fixable vulnerability of one image."""

    image: str
    id: str
    package: str
    installed: str
    fixed: str
    severity: str


@dataclass(frozen=True)
class Summary:
    """What the scan reports held: the findings, and the images that had no report."""

    findings: tuple[Finding, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every image's report was read."""
        return not self.missing

    @property
    def digest(self) -> str:
        """Identifies the set of findings (the issue records it to notice a change)."""
        keys = sorted({(f.image, f.id, f.package, f.installed) for f in self.findings})
        return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """One line of JSON."""
        data = {"findings": [asdict(f) for f in self.findings], "missing": list(self.missing)}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Summary:
        """Parse what ``to_json`` wrote."""
        try:
            data = json.loads(text)
            findings = tuple(Finding(**item) for item in data["findings"])
            missing = tuple(str(image) for image in data["missing"])
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"FINDINGS is not a summary from `summarize` ({exc})"
            raise BadInput(msg) from None
        return cls(findings, missing)


def _fields(text: str) -> dict[str, str]:
    """trivy's result message: 'Package: x' / 'Installed Version: y' / ... one per line."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _read_report(path: Path, image: str) -> list[Finding]:
    log = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for run in log["runs"]:
        for result in run.get("results") or ():
            fields = _fields(result.get("message", {}).get("text", ""))
            severity = fields.get("Severity", "").upper()
            fixed = fields.get("Fixed Version", "")
            # The report holds only what fails the gate; checking again keeps this honest for
            # any trivy report.
            if severity in _SEVERITIES and fixed:
                found.append(
                    Finding(
                        image=image,
                        id=str(result["ruleId"]),
                        package=fields.get("Package", "?"),
                        installed=fields.get("Installed Version", "?"),
                        fixed=fixed,
                        severity=severity,
                    )
                )
    return found


def summarize(directory: Path, images: Sequence[str]) -> Summary:
    """The fixable HIGH/CRITICAL findings in each image's SARIF report."""
    findings: list[Finding] = []
    missing = []
    for image in images:
        path = directory / f"{image}.sarif"
        try:
            findings.extend(_read_report(path, image))
        except FileNotFoundError:
            missing.append(image)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            sys.stderr.write(
                f"::warning::{path} is not a SARIF report ({exc}); counted as missing\n"
            )
            missing.append(image)
    return Summary(tuple(sorted(set(findings))), tuple(missing))


class GitHub:
    """The few REST calls the issue needs, on one repository."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        if urllib.parse.urlsplit(api_url).scheme not in ("https", "http"):
            msg = f"GITHUB_API_URL must be an http(s) URL, not {api_url!r}"
            raise BadInput(msg)
        self._base = f"{api_url.rstrip('/')}/repos/{repository}"
        self._token = token

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:  # noqa: ANN401 - JSON
        """One request; the decoded JSON answer (None for 404 on a GET)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  # nosec B310 - the scheme is checked above
            f"{self._base}{path}",
            data=data,
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:  # noqa: S310  # nosec B310
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            hint = " (the job needs `issues: write`)" if exc.code in (401, 403) else ""
            msg = f"GitHub answered {exc.code} to {method} {path}{hint}"
            raise IssueError(msg) from None
        except (urllib.error.URLError, TimeoutError) as exc:
            msg = f"GitHub's API is unreachable ({exc}); the issue was not changed"
            raise IssueError(msg) from None
        return json.loads(raw) if raw else None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:120]


def _body(summary: Summary, run_url: str, contacts: str) -> str:
    rows = [
        f"| {_cell(f.image)} | {_cell(f.id)} | {f.severity} | {_cell(f.package)} "
        f"| {_cell(f.installed)} | {_cell(f.fixed)} |"
        for f in summary.findings
    ]
    missing = (
        f"\n\nNo report was read for: {', '.join(summary.missing)}." if summary.missing else ""
    )
    mention = f"\n\ncc {contacts}" if contacts else ""
    return "\n".join(
        [
            MARKER,
            _DIGEST.format(summary.digest),
            f"The image scan found **{len(summary.findings)}** HIGH or CRITICAL "
            "vulnerabilities that have a fix (what fails `dagger call scan`). "
            f"Last seen in {run_url}.{missing}{mention}",
            "",
            "| image | vulnerability | severity | package | installed | fixed in |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "To fix: move the base image digest or the locked dependency to the fixed version "
            "(docker/README.md), then `dagger call scan`. Each finding is also a code scanning "
            "alert (tool: Trivy). The security workflow keeps this issue and closes it after "
            "the first clean scan.",
        ]
    )


def _open_issue(github: GitHub) -> dict[str, Any] | None:
    query = urllib.parse.urlencode({"state": "open", "labels": LABEL, "per_page": 100})
    issues = github.call("GET", f"/issues?{query}") or []
    ours = [
        issue
        for issue in issues
        if "pull_request" not in issue and MARKER in (issue.get("body") or "")
    ]
    return min(ours, key=lambda issue: int(issue["number"])) if ours else None


def _ensure_label(github: GitHub) -> None:
    if github.call("GET", f"/labels/{LABEL}") is None:
        github.call(
            "POST",
            "/labels",
            {"name": LABEL, "color": "b60205", "description": "Fixable HIGH/CRITICAL findings"},
        )


def sync(summary: Summary, github: GitHub, *, run_url: str, contacts: str = "") -> str:
    """Open, update, close or leave the issue; returns what was done, in one line."""
    issue = _open_issue(github)
    if not summary.findings:
        if issue is None:
            return "no fixable HIGH/CRITICAL finding and no open issue: nothing to do"
        if not summary.complete:
            return f"no finding, but no report for {', '.join(summary.missing)}: #{issue['number']} left open"
        number = issue["number"]
        github.call(
            "POST",
            f"/issues/{number}/comments",
            {"body": f"The scan in {run_url} found no fixable HIGH or CRITICAL vulnerability."},
        )
        github.call("PATCH", f"/issues/{number}", {"state": "closed", "state_reason": "completed"})
        return f"closed #{number}: the scan is clean"
    body = _body(summary, run_url, contacts)
    if issue is None:
        _ensure_label(github)
        title = "Fixable HIGH/CRITICAL vulnerabilities in the images"
        created = github.call("POST", "/issues", {"title": title, "body": body, "labels": [LABEL]})
        return f"opened #{created['number']}: {len(summary.findings)} findings"
    number = issue["number"]
    changed = _DIGEST.format(summary.digest) not in (issue.get("body") or "")
    github.call("PATCH", f"/issues/{number}", {"body": body})
    if not changed:
        return f"updated #{number}: the same {len(summary.findings)} findings"
    comment = f"The findings changed: {len(summary.findings)} now (table above), seen in {run_url}."
    if contacts:
        comment += f" cc {contacts}"
    github.call("POST", f"/issues/{number}/comments", {"body": comment})
    return f"updated #{number}: the findings changed, {len(summary.findings)} now"


def _environment(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        msg = f"{name} is not set: run this in GitHub Actions, or export it"
        raise BadInput(msg)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; exit 0 done, 2 bad usage or input, 1 GitHub failed."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) >= 3 and args[0] == "summarize":
            summary = summarize(Path(args[1]), args[2:])
            sys.stdout.write(f"findings={summary.to_json()}\n")
            return 0
        if args == ["sync"]:
            text = os.environ.get("FINDINGS", "")
            if not text:
                sys.stdout.write("no summary: the scan did not get that far; issue unchanged\n")
                return 0
            summary = Summary.from_json(text)
            server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
            repository = _environment("GITHUB_REPOSITORY")
            run_url = f"{server}/{repository}/actions/runs/{os.environ.get('GITHUB_RUN_ID', '?')}"
            github = GitHub(
                os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                repository,
                _environment("GITHUB_TOKEN"),
            )
            contacts = os.environ.get("SECURITY_CONTACTS", "").strip()
            sys.stdout.write(sync(summary, github, run_url=run_url, contacts=contacts) + "\n")
            return 0
    except IssueError as exc:
        sys.stderr.write(f"security_issue: {exc}\n")
        return exc.exit_code
    sys.stderr.write(
        "usage: security_issue.py summarize REPORT_DIR IMAGE... | security_issue.py sync\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
