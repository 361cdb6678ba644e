"""The e2e tier's targets: a deployed gateway (``--e2e-base-url``, ID token from a file) or the
local stack (default): both services as processes on the emulators, the Pub/Sub emulator
pushing ingested batches to the local ML service (tests/support/stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clarity_delivery.journey import Journey

from tests.support.emulators import Emulators
from tests.support.stack import LocalStack, local_stack


@dataclass(frozen=True)
class Target:
    """Where the journey goes, and how it is authorised there."""

    base_url: str
    token: str | None
    timeout_seconds: float
    expect_version: str | None


def _token(path: str) -> str:
    """The ID token in ``path`` (tests/conftest.py made sure a path was given)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"cannot read the ID token file {path}: {exc.strerror}"
        raise pytest.UsageError(msg) from None
    if not token:
        msg = f"the ID token file {path} is empty"
        raise pytest.UsageError(msg)
    return token


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    """The deployed gateway given on the command line, or the local stack (started only then:
    a remote run needs no gcloud)."""
    config = request.config
    base_url = str(config.getoption("--e2e-base-url")).rstrip("/")
    timeout = float(config.getoption("--e2e-timeout"))
    expected = str(config.getoption("--e2e-expect-version")) or None
    if base_url:
        token = _token(str(config.getoption("--e2e-id-token-file")))
        return Target(base_url, token, timeout, expected)
    stack: LocalStack = request.getfixturevalue("shared_stack")
    return Target(stack.gateway_url, None, timeout, expected)


@pytest.fixture(scope="session")
def shared_stack(
    emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The local stack the journey and the tests that keep both services up share."""
    with local_stack(emulators, tmp_path_factory.mktemp("e2e-stack")) as stack:
        yield stack


@pytest.fixture
def journey(target: Target) -> Journey:
    """The journey's steps against the target."""
    return Journey(target.base_url, token=target.token, timeout_seconds=target.timeout_seconds)


@pytest.fixture
def fresh_stack(emulators: Emulators, tmp_path: Path) -> Iterator[LocalStack]:
    """A local stack of its own, for a test that takes a service down."""
    with local_stack(emulators, tmp_path) as stack:
        yield stack
