"""The ``clarity-deploy`` command line: help, dry runs and refusals that need no API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clarity_delivery.cli import build_parser, main

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SETTINGS = str(REPO / "terraform" / "environments")
DIGEST = "sha256:" + "ab" * 32


def pinned(env: str) -> list[str]:
    """``--image`` arguments an environment accepts: its own repository, pinned by digest."""
    project = {"dev": "clarity-loop-dev", "prod": "clarity-loop-production"}[env]
    return [
        f"--image={svc}=us-central1-docker.pkg.dev/{project}/clarity/{svc}@{DIGEST}"
        for svc in ("ml-service", "api-gateway")
    ]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_documents_every_command_and_the_exit_codes() -> None:
    text = build_parser().format_help()
    for command in ("deploy", "rollback", "status", "health-check", "prune", "report"):
        assert command in text
    assert "exit codes:" in text
    assert "3  another rollout holds or changed the service" in text
    for command in ("deploy", "rollback", "status", "health-check", "prune", "report"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args([command, "--help"])
        assert exc.value.code == 0


def test_prune_help_says_what_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--keep N" in text
    assert "--dry-run" in text
    assert (
        "never a revision a rollout in progress names, nor the stable, previous or blue one" in text
    )


def test_module_entry_point_prints_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "clarity_delivery", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "ci" / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: clarity-deploy")


def test_dry_run_prints_the_plan_and_needs_no_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        [
            "deploy",
            "--env",
            "staging",
            "--version",
            "1.4.0",
            "--commit",
            "abcdef1",
            "--settings-dir",
            SETTINGS,
            "--dry-run",
            "--credentials",
            "/nonexistent.json",
        ],
        capsys,
    )
    assert code == 0
    assert (
        "Release 1.4.0 (abcdef1) to staging [clarity-loop-staging/us-central1], strategy canary"
        in out
    )
    assert "1. ml-service (clarity-ml-service): revision clarity-ml-service-1-4-0-abcdef1" in out
    assert "2. api-gateway (clarity-api-gateway)" in out
    assert out.strip().endswith("dry run: nothing was changed")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["deploy", "--env", "qa", "--version", "1.0.0"],
            2,
            "unknown environment 'qa': choose one of dev, staging, prod",
        ),
        (["deploy", "--env", "dev", "--version", "1.0"], 2, "malformed version '1.0'"),
        (
            ["deploy", "--env", "dev", "--version", "1.0.0", "--service", "web"],
            2,
            "unknown service 'web'",
        ),
        (
            ["deploy", "--env", "dev", "--version", "1.0.0", "--image", "ml-service"],
            2,
            "--image expects SERVICE=VALUE",
        ),
        (
            ["deploy", "--env", "prod", "--version", "1.0.0", *pinned("prod")],
            2,
            "prod requires approval: re-run with --approve",
        ),
        (
            ["deploy", "--env", "prod", "--version", "1.0.0", "--approve"],
            2,
            "only runs images from us-central1-docker.pkg.dev/clarity-loop-production/clarity/"
            "ml-service pinned by digest",
        ),
        (
            [
                "deploy",
                "--env",
                "dev",
                "--version",
                "1.0.0",
                *pinned("dev"),
                "--credentials",
                "/nonexistent/sa.json",
            ],
            4,
            "credentials file /nonexistent/sa.json does not exist",
        ),
        (
            ["rollback", "--env", "dev", "--to", "banana", "--credentials", "/nonexistent/sa.json"],
            2,
            "malformed version 'banana'",
        ),
        (
            ["report", "--ledger", "/nonexistent/ledger.jsonl"],
            2,
            "no ledger at /nonexistent/ledger.jsonl",
        ),
    ],
)
def test_bad_input_exits_with_a_clear_message_and_no_traceback(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _out, err = run(
        [*argv, "--settings-dir", SETTINGS] if argv[0] != "report" else argv, capsys
    )
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert err.startswith(f"clarity-deploy {argv[0]}: error: ")


def test_malformed_credentials_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "creds.json"
    bad.write_text(json.dumps({"type": "service_account"}))
    code, _, err = run(
        ["status", "--env", "dev", "--settings-dir", SETTINGS, "--credentials", str(bad)], capsys
    )
    assert code == 4
    assert f"credentials file {bad} (service_account) is malformed" in err
    bad.write_text(json.dumps({"type": "gdch_service_account"}))
    code, _, err = run(
        ["status", "--env", "dev", "--settings-dir", SETTINGS, "--credentials", str(bad)], capsys
    )
    assert code == 4
    assert "has type 'gdch_service_account'; supported: service_account" in err


def test_report_prints_a_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "deployments.jsonl"
    record = {
        "id": "a",
        "kind": "rollout",
        "environment": "prod",
        "version": "1.0.0",
        "commit": "",
        "services": [],
        "strategy": "canary",
        "started_at": 0.0,
        "ended_at": 90.0,
        "outcome": "succeeded",
        "steps": [],
        "time_to_rollback_seconds": None,
        "error": None,
    }
    ledger.write_text(
        json.dumps(record)
        + "\n"
        + json.dumps({**record, "outcome": "rolled_back", "time_to_rollback_seconds": 7.5})
        + "\n"
    )
    code, out, _ = run(["report", "--ledger", str(ledger)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "environment",
        "rollouts",
        "success",
        "deploy",
        "p50",
        "deploy",
        "p95",
        "rollback",
        "p50",
        "rollback",
        "p95",
        "MTTR",
    ]
    assert lines[1].split() == ["prod", "2", "50.0%", "90.0s", "90.0s", "7.5s", "7.5s", "7.5s"]
    code, out, _ = run(["report", "--ledger", str(ledger), "--json"], capsys)
    data = json.loads(out)
    assert data[0]["success_rate"] == 0.5
    assert data[0]["meets_targets"] == {
        "success_rate": False,
        "deploy_duration": True,
        "time_to_rollback": True,
        "mttr": True,
    }
