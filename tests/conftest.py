"""Shared fixtures. Tier-specific fixtures live in each tier's conftest."""

from __future__ import annotations

import os
from collections.abc import Iterator

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


# Under pytest-xdist (`make test` runs two workers), tiers whose session fixtures are heavy and
# shared stay on one worker each: one dockerd and one set of images, one tfparse evaluation.
_SERIAL_TIERS = {"containers": "docker", "terraform": "terraform"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of each serial tier onto one xdist worker (``--dist loadgroup``)."""
    for item in items:
        tier = item.path.parent.name
        if tier in _SERIAL_TIERS:
            item.add_marker(pytest.mark.xdist_group(_SERIAL_TIERS[tier]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the summaries tests record as the ``fault-matrix`` property (kept by xdist too)."""
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
