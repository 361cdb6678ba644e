"""Tool contracts, by the basename of the program an exec runs."""

from __future__ import annotations

from graphql import GraphQLError

from tests.doubles.dagger_engine.contracts import (
    cosign,
    dast,
    delivery,
    linters,
    pytest,
    python,
    services,
    shell,
    system,
    terraform,
    trivy,
)
from tests.doubles.dagger_engine.contracts._base import Contract, Exec, Outcome

__all__ = ["CONTRACTS", "Contract", "Exec", "Outcome", "contract_for"]

CONTRACTS: dict[str, Contract] = {
    **system.CONTRACTS,
    **python.CONTRACTS,
    **linters.CONTRACTS,
    **pytest.CONTRACTS,
    **terraform.CONTRACTS,
    **trivy.CONTRACTS,
    **cosign.CONTRACTS,
    **delivery.CONTRACTS,
    **services.CONTRACTS,
    **shell.CONTRACTS,
    **dast.CONTRACTS,
}


def contract_for(program: str) -> Contract:
    """The contract of ``program``; an engine error for a tool nobody modelled."""
    contract = CONTRACTS.get(program)
    if contract is None:
        msg = (
            f"the engine double has no contract for {program!r}: add one in "
            "tests/doubles/dagger_engine/contracts/ (what it needs, what it produces)"
        )
        raise GraphQLError(msg)
    return contract
