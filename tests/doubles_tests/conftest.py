"""Fixtures for the Cloud Run double's own tests: a started double and real REST clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from tests.doubles.cloud_run import CloudRunDouble, fixture_app_command


@pytest.fixture
def double(tmp_path: Path) -> Iterator[CloudRunDouble]:
    """A started double running the contract fixture app for every image."""
    with CloudRunDouble(
        tmp_path / "double",
        operation_delay=0.05,
        ready_timeout=10,
        image_command=fixture_app_command,
    ) as started:
        yield started


@pytest.fixture
def services(double: CloudRunDouble) -> run_v2.ServicesClient:
    return run_v2.ServicesClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": double.endpoint},
    )


@pytest.fixture
def revisions(double: CloudRunDouble) -> run_v2.RevisionsClient:
    return run_v2.RevisionsClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": double.endpoint},
    )
