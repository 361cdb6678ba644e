"""Run every benchmark module (``benchmarks/bench_*.py``) in name order, or the ones named."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# gRPC's C core logs a server's GOAWAY at shutdown on stderr; the tables are what matter here.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def main(argv: list[str]) -> int:
    """Import each ``bench_*`` module and call its ``main()``; return non-zero if one fails."""
    here = Path(__file__).parent
    names = argv or sorted(p.stem for p in here.glob("bench_*.py"))
    failed = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n## {name}\n", flush=True)
        failed += int(module.main() != 0)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
