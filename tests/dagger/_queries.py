"""GraphQL queries against the engine double, as the SDK would send them."""

from __future__ import annotations

import json
from typing import Any

from tests.doubles.dagger_engine import EngineDouble

__all__ = ["chain", "container", "error", "exec_args", "leaf", "run"]


def run(double: EngineDouble, query: str) -> dict[str, Any]:
    """The data of a query that must succeed."""
    response = double.execute({"query": query})
    assert "errors" not in response, response["errors"]
    data: dict[str, Any] = response["data"]
    return data


def error(double: EngineDouble, query: str) -> dict[str, Any]:
    """The first error of a query that must fail."""
    response = double.execute({"query": query})
    assert response.get("errors"), response
    first: dict[str, Any] = response["errors"][0]
    return first


def container(address: str, *steps: str) -> str:
    """A query selecting ``steps`` on a container of ``address``."""
    chain_ = "".join(f"{{ {step} " for step in steps)
    return f'{{ container {{ from(address: "{address}") {chain_}{"}" * len(steps)} }} }}'


def chain(root: str, *steps: str, select: str) -> str:
    """``root`` (a query field) with ``steps`` applied, selecting ``select`` on the last."""
    body = select
    for step in reversed(steps):
        body = f"{step} {{ {body} }}"
    return f"{{ {root} {{ {body} }} }}"


def leaf(data: dict[str, Any]) -> dict[str, Any]:
    """The innermost object of a chain's answer (the one with the selected fields)."""
    while len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))
    return data


def exec_args(*argv: str) -> str:
    """An argv as a GraphQL list literal."""
    return json.dumps(list(argv))
