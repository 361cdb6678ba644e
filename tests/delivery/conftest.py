"""End-to-end fixtures (see :mod:`tests.delivery.stage`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.stage import Stage, open_fixture_stage, open_stage
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
    """Both services running 0.9.0 on a fresh Cloud Run double."""
    with open_stage(tmp_path, token_endpoint, emulators) as world:
        yield world


@pytest.fixture
def fixture_stage(tmp_path: Path, token_endpoint: TokenEndpoint) -> Iterator[Stage]:
    """Both services running 0.9.0 as the double's fixture app (no emulators)."""
    with open_fixture_stage(tmp_path, token_endpoint) as world:
        yield world
