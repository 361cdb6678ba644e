"""Unit tier of the backend: no emulator, no network beyond loopback."""

from __future__ import annotations

import pytest

from tests.support.backend import clear_service_environment


@pytest.fixture(autouse=True)
def _clean_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from an environment without any service variable of the developer's shell."""
    clear_service_environment(monkeypatch)
