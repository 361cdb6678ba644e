"""Gate definitions, aggregation, and the host runner on real processes."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import anyio
import pytest
from _pytest.mark.expression import Expression
from clarity import gates as host
from clarity._gates import (
    GATE_NAMES,
    GATES,
    IMAGE_SCAN,
    IMAGE_TARBALL,
    PIPELINE_TIERS,
    REPORT_PATH,
    FileSet,
    Gate,
    Report,
    Step,
    select_gates,
)
from clarity._report import Outcome, StepResult, sarif_results, summarize, tail

from tests.doubles.dagger_engine.contracts.pytest import only

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def test_the_gates_and_their_order() -> None:
    assert GATE_NAMES == ("lint", "typecheck", "test", "security")
    assert [s.name for s in GATES["lint"].steps] == ["ruff format", "ruff check"]
    assert GATES["lint"].steps[0].command(pipeline=False) == ("ruff", "format", "--check", ".")
    security = [s.name for s in GATES["security"].steps]
    assert security == [
        "bandit",
        "detect-secrets",
        "export requirements",
        "pip-audit",
        "checkov",
        "zizmor",
        "actionlint",
        "hadolint",
        "shellcheck",
    ]


def test_the_test_gate_matches_make_test_on_the_host() -> None:
    (step,) = GATES["test"].steps
    makefile = (ROOT / "Makefile").read_text()
    workers = re.search(r"^WORKERS \?= (\d+)$", makefile, re.MULTILINE)
    assert workers is not None, "the Makefile sets no default WORKERS"
    recipe = makefile.replace("\\\n\t\t", "").replace("$(WORKERS)", workers[1])
    host_argv = step.command(pipeline=False)
    assert " ".join(host_argv[1:7]) in recipe
    assert "--junitxml=$(REPORTS)/junit.xml" in makefile
    assert host_argv[-1] == "--junitxml=reports/junit.xml"
    assert step.command(pipeline=True) == (*host_argv, "-m", PIPELINE_TIERS)


def test_the_pipeline_test_gate_leaves_out_what_a_pipeline_container_cannot_run() -> None:
    """No Docker daemon, no engine, no git checkout (.git is never uploaded) in the pipeline."""
    (step,) = GATES["test"].steps
    expression = Expression.compile(PIPELINE_TIERS)
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    tiers = [m.split(":", 1)[0] for m in markers["markers"]]
    selected = {t for t in tiers if expression.evaluate(only(t))}
    assert selected == {"unit", "integration", "dast", "delivery", "terraform", "dagger"}
    assert step.pipeline_args == ("-m", PIPELINE_TIERS)


def test_every_host_tool_is_installed_in_the_project_environment() -> None:
    """What the host runner finds: the project's .venv, the uv that runs it (UV), PATH."""
    search = host._search_path()
    for gate in GATES.values():
        for step in gate.steps:
            if step.host:
                assert shutil.which(step.argv[0], path=search), step.argv


def test_the_dependency_audit_is_pipeline_only_and_says_why() -> None:
    audit = [s for s in GATES["security"].steps if not s.host]
    assert [s.name for s in audit] == ["export requirements", "pip-audit"]
    assert all("false pass" in s.not_on_host for s in audit)
    assert "pip-audit==2.10.1" in audit[1].argv


def test_no_step_builds_a_shell_string() -> None:
    for gate in GATES.values():
        for step in gate.steps:
            assert step.argv[0] not in {"sh", "bash"}
            assert not any(arg in {"|", "&&", ";", ">", "<"} for arg in step.argv)


def test_steps_refuse_an_unexplained_host_skip() -> None:
    with pytest.raises(ValueError, match="without saying why"):
        Step(name="x", argv=("true",), host=False)
    with pytest.raises(ValueError, match="empty argv"):
        Step(name="x", argv=())


def test_file_sets_select_sorted_unique_and_skip_excluded() -> None:
    files = FileSet(include=("docker/**/Dockerfile", "**/*.sh"))
    paths = [
        "docker/api-gateway/Dockerfile",
        "./docker/ml-service/Dockerfile",
        "docker/api-gateway/Dockerfile",
        "scripts/deploy.sh",
        "deploy.sh",
        ".venv/lib/x.sh",
        "pkg/.venv/bin/y.sh",
        "docker/",
        "docker/README.md",
    ]
    assert files.select(paths) == (
        "deploy.sh",
        "docker/api-gateway/Dockerfile",
        "docker/ml-service/Dockerfile",
        "scripts/deploy.sh",
    )
    assert files.describe() == "docker/**/Dockerfile, **/*.sh"


def test_step_command_appends_pipeline_arguments_then_files() -> None:
    step = Step(name="x", argv=("tool", "--flag"), pipeline_args=("--ci",))
    assert step.command(["a", "b"], pipeline=False) == ("tool", "--flag", "a", "b")
    assert step.command(["a"], pipeline=True) == ("tool", "--flag", "--ci", "a")


def test_select_gates() -> None:
    assert select_gates(["all"]) == tuple(GATES.values())
    assert select_gates([]) == tuple(GATES.values())
    assert [g.name for g in select_gates(["security", "lint"])] == ["lint", "security"]
    with pytest.raises(KeyError, match="unknown gate"):
        select_gates(["lint", "format"])


def test_summary_lists_every_failure_with_its_output() -> None:
    results = [
        StepResult.from_exit(gate="lint", step="ruff", exit_code=1, output="E501 too long"),
        StepResult.from_exit(gate="typecheck", step="mypy", exit_code=0, output="ok"),
        StepResult.from_exit(gate="security", step="bandit", exit_code=2, output="B108"),
        StepResult(gate="security", step="audit", outcome=Outcome.SKIPPED, detail="pipeline"),
        StepResult(gate="security", step="hadolint", outcome=Outcome.NOTHING_TO_CHECK),
    ]
    summary = summarize(results)
    assert not summary.ok
    assert [r.label for r in summary.failures] == ["lint / ruff", "security / bandit"]
    text = summary.render()
    assert summary.headline() == (
        "FAILED (2 failing): 1 passed, 2 failed, 1 skipped, 1 nothing to check"
    )
    assert "--- lint / ruff failed (exit 1)\nE501 too long" in text
    assert "--- security / bandit failed (exit 2)\nB108" in text
    assert "(pipeline)" in text


def test_summary_passes_only_without_failures_and_with_results() -> None:
    assert not summarize([]).ok
    assert summarize([]).headline() == "FAILED: no step ran"
    skipped = StepResult(gate="g", step="s", outcome=Outcome.SKIPPED)
    assert summarize([skipped]).ok


def test_summary_order_follows_the_definitions() -> None:
    a = StepResult(gate="b", step="1", outcome=Outcome.PASSED)
    b = StepResult(gate="a", step="2", outcome=Outcome.PASSED)
    assert [r.gate for r in summarize([a, b], [("b", "1"), ("a", "2")]).results] == ["b", "a"]
    assert [r.gate for r in summarize([a, b]).results] == ["a", "b"]


def test_tail_keeps_the_end_of_long_output() -> None:
    text = "\n".join(str(i) for i in range(100))
    kept = tail(text, lines=3).splitlines()
    assert kept == ["... (97 earlier lines omitted)", "97", "98", "99"]
    assert tail("a\nb\n") == "a\nb"


def _python(code: str) -> tuple[str, ...]:
    return ("python", "-c", code)


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "a.sh").write_text("echo a\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "b.sh").write_text("echo b\n")
    return tmp_path


SYNTHETIC = (
    Gate(
        name="one",
        summary="",
        steps=(
            Step(name="passes", argv=_python("print('fine')")),
            Step(name="fails", argv=_python("import sys; print('broken'); sys.exit(3)")),
            Step(
                name="files",
                argv=_python("import sys; print(sys.argv[1:]); sys.exit(len(sys.argv) - 2)"),
                files=FileSet(include=("scripts/*.sh", "**/*.sh")),
            ),
        ),
    ),
    Gate(
        name="two",
        summary="",
        steps=(
            Step(name="nothing", argv=("true",), files=FileSet(include=("docker/*/Dockerfile",))),
            Step(name="requires", argv=("true",), requires=("terraform/tools/req.txt",)),
            Step(name="pipeline only", argv=("true",), host=False, not_on_host="no feed here"),
            Step(name="missing tool", argv=("no-such-tool-anywhere",)),
            Step(name="stderr", argv=_python("import sys; sys.exit('to stderr')")),
        ),
    ),
)


def test_host_runner_runs_real_processes_and_reports_all_failures(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    seen: list[str] = []
    summary = anyio.run(
        lambda: host.run_gates(root, SYNTHETIC, jobs=2, progress=lambda r: seen.append(r.label))
    )
    outcomes = {r.label: r.outcome for r in summary.results}
    assert outcomes == {
        "one / passes": Outcome.PASSED,
        "one / fails": Outcome.FAILED,
        "one / files": Outcome.PASSED,
        "two / nothing": Outcome.NOTHING_TO_CHECK,
        "two / requires": Outcome.NOTHING_TO_CHECK,
        "two / pipeline only": Outcome.SKIPPED,
        "two / missing tool": Outcome.FAILED,
        "two / stderr": Outcome.FAILED,
    }
    assert sorted(seen) == sorted(outcomes)
    by_label = {r.label: r for r in summary.results}
    assert by_label["one / fails"].exit_code == 3
    assert by_label["one / fails"].detail == "broken"
    assert by_label["two / stderr"].detail == "to stderr"
    assert "make sync" in by_label["two / missing tool"].detail
    assert by_label["two / nothing"].detail == "no files match docker/*/Dockerfile"
    assert by_label["two / requires"].detail == "terraform/tools/req.txt not present"
    assert by_label["two / pipeline only"].detail == "no feed here"
    assert [r.label for r in summary.results][:3] == ["one / passes", "one / fails", "one / files"]


def test_host_runner_main_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    assert host.main(["nope", "--root", str(tmp_path)], stream=out) == 2
    assert host.main(["lint", "--root", str(tmp_path)], stream=out) == 2  # no pyproject.toml
    root = _repo(tmp_path)
    # A repository with nothing to lint: ruff passes on an empty tree; the summary says so.
    assert host.main(["lint", "--root", str(root), "--jobs", "1"], stream=out) == 0
    text = out.getvalue()
    assert "==> running lint on the host with 1 job(s)" in text
    assert "Gate summary — PASSED: 2 passed" in text
    (root / "bad.py").write_text("x=1\n")
    out = io.StringIO()
    assert host.main(["lint", "--root", str(root)], stream=out) == 1
    assert "--- lint / ruff format failed (exit 1)" in out.getvalue()
    assert os.environ.get("PATH")  # the runner did not replace the caller's environment


def test_list_files_prunes_dependency_directories(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "pkg.egg-info").mkdir()
    (root / "pkg.egg-info" / "PKG-INFO").write_text("")
    assert sorted(host.list_files(root)) == ["pyproject.toml", "scripts/a.sh"]


# ------------------------------------------------------------------ report variants

SECURITY = {step.name: step for step in GATES["security"].steps}


def test_the_tools_that_can_write_reports_have_one() -> None:
    reports = {name: s.report.file for name, s in SECURITY.items() if s.report is not None}
    assert reports == {
        "bandit": "bandit.sarif",
        "pip-audit": "pip-audit.json",
        "checkov": "checkov.sarif",
        "zizmor": "zizmor.sarif",
        "hadolint": "hadolint.sarif",
    }
    assert IMAGE_SCAN.report is not None
    assert IMAGE_SCAN.report.file == "trivy.sarif"
    assert [s.report.sarif for s in SECURITY.values() if s.report is not None] == [
        True,
        False,
        True,
        True,
        True,
    ]


@pytest.mark.parametrize("step", [*(s for s in SECURITY.values() if s.report), IMAGE_SCAN])
def test_a_report_is_the_gate_command_plus_format_arguments(step: Step) -> None:
    files = ("a.yml", "b.yml") if step.files is not None else ()
    gate = step.command(files, pipeline=True)
    report = step.report_command(files, path="/reports/x.sarif", pipeline=True)
    assert report[: len(gate) - len(files)] == gate[: len(gate) - len(files)]
    assert report[len(report) - len(files) :] == files
    added = report[len(gate) - len(files) : len(report) - len(files)]
    assert step.report is not None
    assert added == tuple(a.replace(REPORT_PATH, "/reports/x.sarif") for a in step.report.args)
    assert all(REPORT_PATH not in arg for arg in report)
    assert step.report.stdout or any("/reports/x.sarif" in arg for arg in added)


def test_report_definitions_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="not both or neither"):
        Report(file="x.sarif", args=("--format", "sarif"))
    with pytest.raises(ValueError, match="not both or neither"):
        Report(file="x.sarif", args=("--output", REPORT_PATH), stdout=True)
    with pytest.raises(ValueError, match="plain file name"):
        Report(file="out/x.sarif", args=("--format", "sarif"), stdout=True)
    with pytest.raises(ValueError, match="counted in SARIF"):
        Report(file="x.json", args=("--json",), stdout=True, exit_status=False)
    with pytest.raises(ValueError, match="writes no machine-readable report"):
        SECURITY["shellcheck"].report_command(path="/reports/x", pipeline=True)


def test_the_image_scan_fails_on_fixable_high_and_critical_findings() -> None:
    argv = IMAGE_SCAN.command(pipeline=True)
    assert argv[:4] == ("trivy", "image", "--input", IMAGE_TARBALL)
    assert argv[argv.index("--severity") + 1] == "HIGH,CRITICAL"
    assert "--ignore-unfixed" in argv
    assert argv[argv.index("--exit-code") + 1] == "1"
    assert not IMAGE_SCAN.host
    assert "pipeline" in IMAGE_SCAN.not_on_host


# Each input holds one known finding, so the report must contain a result.
_FINDINGS = {
    "bandit": ("src/app.py", "import subprocess\n\nsubprocess.call('ls', shell=True)\n"),
    "zizmor": (
        ".github/workflows/build.yml",
        "name: build\non: push\npermissions: {}\njobs:\n  build:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
    ),
    "hadolint": (
        "docker/app/Dockerfile",
        "FROM debian:bookworm\nRUN apt-get update && apt-get install -y curl\n",
    ),
}


@pytest.mark.parametrize("name", sorted(_FINDINGS))
def test_report_commands_write_sarif_with_the_findings(name: str, tmp_path: Path) -> None:
    """Runs the real tools of the project environment, as the pipeline does in its container."""
    step = SECURITY[name]
    assert step.report is not None
    relative, content = _FINDINGS[name]
    (tmp_path / "pyproject.toml").write_text("[tool.bandit]\n")
    (tmp_path / "ci" / "src").mkdir(parents=True)
    (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / relative).write_text(content)
    files = step.files.select(host.list_files(tmp_path)) if step.files is not None else ()
    assert step.files is None or files
    out = tmp_path / "out"
    out.mkdir()
    path = out / step.report.file
    argv = list(step.report_command(files, path=str(path), pipeline=True))
    argv[0] = str(VENV_BIN / argv[0])
    with path.open("wb") if step.report.stdout else open(os.devnull, "wb") as stdout:  # noqa: PTH123
        ran = subprocess.run(
            argv, cwd=tmp_path, stdout=stdout, stderr=subprocess.PIPE, timeout=120, check=False
        )
    text = path.read_text()
    if step.report.exit_status:
        assert ran.returncode != 0, "a finding still fails the step"
    else:
        # The runner judges such a step by the results in its report instead.
        assert ran.returncode == 0, ran.stderr.decode()
        result = StepResult.from_report(
            gate="security",
            step=name,
            exit_code=ran.returncode,
            output="",
            findings=sarif_results(text),
            report=step.report.file,
        )
        assert result.outcome is Outcome.FAILED
        assert result.detail.endswith(f"finding(s) in {step.report.file}")
    sarif = json.loads(text)
    assert sarif_results(text) == len(sarif["runs"][0]["results"])
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"].lower() == name
    assert run["results"], ran.stderr.decode()
    locations = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert {uri.removeprefix("./").removeprefix(f"{tmp_path}/") for uri in locations} == {relative}


def test_sarif_results_counts_every_run_and_refuses_other_text() -> None:
    log = {"version": "2.1.0", "runs": [{"results": [{}, {}]}, {"results": []}, {}]}
    assert sarif_results(json.dumps(log)) == 2
    for bad in ("", "[]", '{"version": "2.1.0"}', "not json"):
        with pytest.raises(ValueError, match="not a SARIF log"):
            sarif_results(bad)


def test_a_clean_report_or_a_failed_tool_keeps_the_exit_code_verdict() -> None:
    clean = StepResult.from_report(
        gate="g", step="s", exit_code=0, output="", findings=0, report="s.sarif"
    )
    assert clean.outcome is Outcome.PASSED
    broken = StepResult.from_report(
        gate="g", step="s", exit_code=1, output="crashed", findings=0, report="s.sarif"
    )
    assert (broken.outcome, broken.detail) == (Outcome.FAILED, "crashed")
