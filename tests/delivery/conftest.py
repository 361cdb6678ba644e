"""End-to-end fixtures (see :mod:`tests.delivery.stage`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.stage import QUICK_OPERATION_SECONDS, Stage, open_fixture_stage, open_stage
from tests.doubles.oauth import TokenEndpoint
from tests.support.emulators import Emulators


@pytest.fixture(scope="session")
def token_endpoint() -> Iterator[TokenEndpoint]:
    """An OAuth token endpoint the credentials files point at (session-wide)."""
    endpoint = TokenEndpoint().start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def stage(tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators) -> Iterator[Stage]:
    """Both services running 0.9.0 on a fresh Cloud Run double (operations take a second)."""
    with open_stage(tmp_path, token_endpoint, emulators) as world:
        yield world


@pytest.fixture
def fixture_stage(tmp_path: Path, token_endpoint: TokenEndpoint) -> Iterator[Stage]:
    """Both services running 0.9.0 as the double's fixture app (no emulators; operations take
    a second)."""
    with open_fixture_stage(tmp_path, token_endpoint) as world:
        yield world


@pytest.fixture
def quick_fixture_stage(tmp_path: Path, token_endpoint: TokenEndpoint) -> Iterator[Stage]:
    """The fixture stage with operations of 50 ms (see ``quick_stage``): for decisions that
    take several releases to set up (which earlier release, which revision name)."""
    with open_fixture_stage(
        tmp_path, token_endpoint, operation_delay=QUICK_OPERATION_SECONDS
    ) as world:
        yield world


@pytest.fixture
def quick_stage(
    tmp_path: Path, token_endpoint: TokenEndpoint, emulators: Emulators
) -> Iterator[Stage]:
    """The stage with operations of 50 ms, for tests that make several releases and rollbacks
    to reach what they check (which revision serves, what was recorded): their subject is not
    what happens while an operation runs, and at a second per operation each takes a minute."""
    with open_stage(
        tmp_path, token_endpoint, emulators, operation_delay=QUICK_OPERATION_SECONDS
    ) as world:
        yield world
