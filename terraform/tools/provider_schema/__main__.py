"""Command line: fetch (and cache) provider schemas, or check .tf files against them.

    python -m terraform.tools.provider_schema fetch [--provider SOURCE [--version V]]
    python -m terraform.tools.provider_schema check [PATH ...] [--provider SOURCE=VERSION]

``fetch`` without arguments caches the schema of every pinned package: provisioning runs it
once, so that the tests find every schema they use in the cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from terraform.tools.provider_schema._errors import SchemaToolError
from terraform.tools.provider_schema.check import check_tree
from terraform.tools.provider_schema.fetch import load_schema, schema_path
from terraform.tools.provider_schema.model import ProviderSchema
from terraform.tools.provider_schema.packages import (
    PACKAGES,
    ProviderPackage,
    default_packages,
    find_package,
)

_TERRAFORM_DIR = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m terraform.tools.provider_schema")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download and cache provider schemas")
    fetch.add_argument("--provider", help="provider source, e.g. hashicorp/google (default: all)")
    fetch.add_argument("--version", help="provider version of the pinned package to fetch")
    check = commands.add_parser("check", help="check .tf files against the schemas")
    check.add_argument("paths", nargs="*", type=Path, help="directories (default: terraform/)")
    check.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="SOURCE=VERSION",
        help="check a provider against another pinned version, e.g. hashicorp/google=6.14.0",
    )
    return parser


def _fetch(packages: Sequence[ProviderPackage]) -> int:
    for package in packages:
        cached = schema_path(package).exists()
        started = time.monotonic()
        schema = load_schema(package)
        seconds = time.monotonic() - started
        path = schema_path(package)
        state = "cached" if cached else f"derived in {seconds:.1f} s"
        sys.stdout.write(
            f"{schema.source} {schema.version} from {package.pin}: {path} "
            f"({path.stat().st_size / 1e6:.1f} MB, {state})\n"
        )
    return 0


def _check(paths: Sequence[Path], overrides: Sequence[str]) -> int:
    packages = {p.source: p for p in default_packages()}
    for override in overrides:
        source, _, version = override.partition("=")
        package = find_package(source, version or None)
        packages[package.source] = package
    schemas: dict[str, ProviderSchema] = {s: load_schema(p) for s, p in packages.items()}
    failed = False
    for root in paths or [_TERRAFORM_DIR]:
        report = check_tree(root, schemas, base=Path.cwd())
        for finding in report.findings:
            sys.stdout.write(f"{finding}\n")
        for unchecked in report.unchecked:
            sys.stdout.write(f"unchecked: {unchecked}\n")
        versions = ", ".join(f"{s.source} {s.version}" for s in schemas.values())
        sys.stdout.write(
            f"{root}: {report.files} files, {report.checked_blocks} blocks checked against "
            f"{versions}: {len(report.findings)} findings\n"
        )
        failed = failed or bool(report.findings)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch":
            if args.provider:
                return _fetch([find_package(args.provider, args.version)])
            return _fetch(PACKAGES)
        return _check(args.paths, args.provider)
    except SchemaToolError as exc:
        sys.stderr.write(f"provider_schema: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
