"""scripts/security_issue.py, run as the security workflow runs it: a process reading trivy's
SARIF reports, then talking to a local stand-in for GitHub's REST API (tests/workflows/
_github_api.py) through the real urllib code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clarity._settings import SERVICES

from tests.workflows._github_api import REPOSITORY, TOKEN, github_api
from tests.workflows._support import ROOT, WORKFLOWS, load_yaml

pytestmark = pytest.mark.workflows

SCRIPT = ROOT / "scripts" / "security_issue.py"
MARKER = "<!-- clarity: image vulnerabilities -->"
LABEL = "image-vulnerabilities"


def _result(
    vuln: str, package: str, installed: str, severity: str, fixed: str
) -> dict[str, object]:
    """One result as trivy's SARIF writer (pkg/report/sarif.go) lays it out."""
    text = (
        f"Package: {package}\nInstalled Version: {installed}\nVulnerability {vuln}\n"
        f"Severity: {severity}\nFixed Version: {fixed}\n"
        f"Link: [{vuln}](https://avd.aquasec.com/nvd/{vuln.lower()})"
    )
    return {
        "ruleId": vuln,
        "ruleIndex": 0,
        "level": "error" if severity in ("HIGH", "CRITICAL") else "warning",
        "message": {"text": text},
        "locations": [
            {
                "message": {"text": f"usr/lib: {package}@{installed}"},
                "physicalLocation": {
                    "artifactLocation": {"uri": "library/python", "uriBaseId": "ROOTPATH"},
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
                },
            }
        ],
    }


def _sarif(*results: dict[str, object]) -> str:
    run = {
        "tool": {"driver": {"name": "Trivy", "fullName": "Trivy Vulnerability Scanner"}},
        "results": list(results),
        "columnKind": "utf16CodeUnits",
    }
    return json.dumps({"version": "2.1.0", "runs": [run]})


OPENSSL = _result("CVE-2024-0001", "openssl", "3.0.11-1", "CRITICAL", "3.0.13-1")
URLLIB3 = _result("CVE-2024-0002", "urllib3", "2.0.0", "HIGH", "2.2.2")
NO_FIX = _result("CVE-2024-0003", "libc6", "2.36-9", "HIGH", "")
MEDIUM = _result("CVE-2024-0004", "zlib1g", "1.2.13", "MEDIUM", "1.3")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _summarize(reports: Path, *images: str) -> str:
    run = _run("summarize", str(reports), *images)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("findings=")
    assert run.stdout.count("\n") == 1, "one line for $GITHUB_OUTPUT"
    return run.stdout.removeprefix("findings=").strip()


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    (tmp_path / "api-gateway.sarif").write_text(_sarif(OPENSSL, NO_FIX, MEDIUM))
    (tmp_path / "ml-service.sarif").write_text(_sarif(URLLIB3, OPENSSL))
    return tmp_path


def _sync(url: str, findings: str, contacts: str = "") -> subprocess.CompletedProcess[str]:
    return _run(
        "sync",
        env={
            "FINDINGS": findings,
            "GITHUB_API_URL": url,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_TOKEN": TOKEN,
            "SECURITY_CONTACTS": contacts,
        },
    )


# ------------------------------------------------------------------ summarize


def test_only_fixable_high_and_critical_findings_are_kept_per_image(reports: Path) -> None:
    summary = json.loads(_summarize(reports, "api-gateway", "ml-service"))
    assert summary["missing"] == []
    assert [(f["image"], f["id"], f["severity"], f["fixed"]) for f in summary["findings"]] == [
        ("api-gateway", "CVE-2024-0001", "CRITICAL", "3.0.13-1"),
        ("ml-service", "CVE-2024-0001", "CRITICAL", "3.0.13-1"),
        ("ml-service", "CVE-2024-0002", "HIGH", "2.2.2"),
    ]
    assert summary["findings"][0]["package"] == "openssl"
    assert summary["findings"][0]["installed"] == "3.0.11-1"


def test_a_missing_or_unreadable_report_makes_the_summary_incomplete(reports: Path) -> None:
    (reports / "ml-service.sarif").write_text("{not sarif")
    run = _run("summarize", str(reports), "api-gateway", "ml-service", "worker")
    assert run.returncode == 0
    summary = json.loads(run.stdout.removeprefix("findings="))
    assert summary["missing"] == ["ml-service", "worker"]
    assert [f["id"] for f in summary["findings"]] == ["CVE-2024-0001"]
    assert "::warning::" in run.stderr
    assert "ml-service.sarif is not a SARIF report" in run.stderr


# ------------------------------------------------------------------ sync against the double


def test_the_first_finding_opens_one_labelled_issue_that_mentions_the_contacts(
    reports: Path,
) -> None:
    findings = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        run = _sync(url, findings, contacts="@clarity-loop/security")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "opened #1: 3 findings"
    assert state.labels == {LABEL}
    (issue,) = state.issues.values()
    assert issue["labels"] == [{"name": LABEL}]
    assert issue["body"].startswith(MARKER)
    assert "| ml-service | CVE-2024-0002 | HIGH | urllib3 | 2.0.0 | 2.2.2 |" in issue["body"]
    assert "https://github.com/clarity-loop/clarity-loop-backend/actions/runs/4242" in issue["body"]
    assert "cc @clarity-loop/security" in issue["body"]


def test_the_same_findings_update_the_issue_silently(reports: Path) -> None:
    findings = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        assert _sync(url, findings).returncode == 0
        state.requests.clear()
        run = _sync(url, findings)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "updated #1: the same 3 findings"
    assert state.writes == [("PATCH", f"/repos/{REPOSITORY}/issues/1")]
    assert state.comments == {}
    assert len(state.issues) == 1


def test_changed_findings_update_the_issue_and_comment_so_people_hear_of_it(
    reports: Path,
) -> None:
    before = _summarize(reports, "api-gateway", "ml-service")
    (reports / "ml-service.sarif").write_text(_sarif(OPENSSL))
    after = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        assert _sync(url, before).returncode == 0
        run = _sync(url, after, contacts="@oncall")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "updated #1: the findings changed, 2 now"
    assert "CVE-2024-0002" not in state.issues[1]["body"]
    (comment,) = state.comments[1]
    assert comment.startswith("The findings changed: 2 now")
    assert comment.endswith("cc @oncall")


def test_a_complete_clean_scan_closes_the_issue(reports: Path) -> None:
    findings = _summarize(reports, "api-gateway", "ml-service")
    for path in reports.iterdir():
        path.write_text(_sarif(MEDIUM, NO_FIX))
    clean = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        assert _sync(url, findings).returncode == 0
        run = _sync(url, clean)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "closed #1: the scan is clean"
    assert state.issues[1]["state"] == "closed"
    assert state.issues[1]["state_reason"] == "completed"
    assert state.comments[1][0].startswith("The scan in https://github.com/")


def test_an_incomplete_scan_without_findings_leaves_the_issue_open(reports: Path) -> None:
    findings = _summarize(reports, "api-gateway", "ml-service")
    (reports / "api-gateway.sarif").write_text(_sarif(MEDIUM))
    (reports / "ml-service.sarif").unlink()
    partial = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        assert _sync(url, findings).returncode == 0
        state.requests.clear()
        run = _sync(url, partial)
    assert run.returncode == 0, run.stderr
    assert "no report for ml-service: #1 left open" in run.stdout
    assert state.writes == []
    assert state.issues[1]["state"] == "open"


def test_a_clean_scan_with_no_issue_writes_nothing(reports: Path) -> None:
    for path in reports.iterdir():
        path.write_text(_sarif(MEDIUM))
    clean = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        run = _sync(url, clean)
    assert run.returncode == 0, run.stderr
    assert state.writes == []
    assert state.issues == {}


def test_only_the_workflows_own_issue_is_touched(reports: Path) -> None:
    """A person's issue or pull request with the same label is never edited or closed."""
    findings = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        theirs = state.add_issue("Tracking upgrades by hand.", [LABEL])
        pull = state.add_issue(f"{MARKER} quoted in a pull request", [LABEL], pull_request=True)
        run = _sync(url, findings)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "opened #3: 3 findings"
    assert state.issues[theirs]["body"] == "Tracking upgrades by hand."
    assert state.issues[pull]["state"] == "open"
    assert (theirs, pull) == (1, 2)


def test_a_missing_permission_fails_with_what_to_grant(reports: Path) -> None:
    findings = _summarize(reports, "api-gateway", "ml-service")
    with github_api() as (url, state):
        state.refuse_with = 403
        run = _sync(url, findings)
    assert run.returncode == 1
    assert "GitHub answered 403" in run.stderr
    assert "issues: write" in run.stderr
    assert "Traceback" not in run.stderr
    assert state.issues == {}


def test_no_summary_means_the_scan_stopped_early_and_nothing_is_asked(reports: Path) -> None:
    with github_api() as (url, state):
        run = _sync(url, "")
        bad = _sync(url, '{"findings": "not a list"}')
    assert run.returncode == 0
    assert "issue unchanged" in run.stdout
    assert bad.returncode == 2
    assert "FINDINGS is not a summary" in bad.stderr
    assert state.requests == []


def test_without_a_token_it_says_what_is_missing(reports: Path) -> None:
    findings = _summarize(reports, "api-gateway")
    run = _run("sync", env={"FINDINGS": findings, "GITHUB_REPOSITORY": REPOSITORY})
    assert run.returncode == 2
    assert "GITHUB_TOKEN is not set" in run.stderr


# ------------------------------------------------------------------ the workflow's wiring


def test_the_workflow_summarises_every_image_and_files_from_a_job_of_its_own() -> None:
    jobs = load_yaml(WORKFLOWS / "security.yml")["jobs"]
    summarize = next(s for s in jobs["security"]["steps"] if s.get("id") == "findings")
    argv = summarize["run"].split(">>")[0].split()
    assert argv[:4] == ["python3", "scripts/security_issue.py", "summarize", "reports/scan"]
    assert sorted(argv[4:]) == sorted(SERVICES)
    assert summarize["if"] == "${{ !cancelled() }}"
    assert jobs["security"]["outputs"]["findings"] == "${{ steps.findings.outputs.findings }}"
    issue = jobs["vulnerability-issue"]
    assert issue["needs"] == "security"
    # Only this job may write issues, and it runs no scanner and no Dagger engine.
    assert issue["permissions"] == {"contents": "read", "issues": "write"}
    (sync,) = [s for s in issue["steps"] if "run" in s]
    assert sync["run"] == "python3 scripts/security_issue.py sync"
    assert sync["env"]["FINDINGS"] == "${{ needs.security.outputs.findings }}"
    assert sync["env"]["SECURITY_CONTACTS"] == "${{ vars.SECURITY_CONTACTS }}"
    for job_id, job in jobs.items():
        if job_id != "vulnerability-issue":
            assert "issues" not in job["permissions"], job_id
