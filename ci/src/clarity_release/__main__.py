"""``python -m clarity_release``: cut a release, or print the version a git ref names.

    python -m clarity_release [--dry-run] [--repo PATH] [--release-as X.Y.Z]
    python -m clarity_release ref-version REF

Exit codes: 0 done, 2 bad arguments, 3-8 see :mod:`clarity_release._errors`, 1 other failures.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from clarity_release._errors import ReleaseError, UsageError
from clarity_release._release import apply_release, plan_release
from clarity_release._version import Version, version_from_ref


def _release_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clarity_release",
        description=(
            "Release from conventional commits since the last vX.Y.Z tag: move [Unreleased] "
            "and the commits into a new CHANGELOG.md section, commit it and create the "
            "annotated tag. 'ref-version REF' prints the version a tag or release branch names."
        ),
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the next version and its changelog section; change nothing",
    )
    parser.add_argument(
        "--repo", type=Path, default=Path(), help="the git working tree (default: .)"
    )
    parser.add_argument(
        "--release-as",
        metavar="X.Y.Z",
        help="release this version instead of the computed one (e.g. 1.0.0 to leave 0.x)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _ref_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clarity_release ref-version",
        description="Print the version refs/tags/vX.Y.Z or refs/heads/release/X.Y.Z names.",
    )
    parser.add_argument("ref", help="a full git ref, e.g. $GITHUB_REF")
    return parser


def _ref_version(argv: Sequence[str]) -> int:
    args = _ref_parser().parse_args(argv)
    try:
        version = version_from_ref(args.ref)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return UsageError.exit_code
    sys.stdout.write(f"{version}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["ref-version"]:
        return _ref_version(arguments[1:])
    args = _release_parser().parse_args(arguments)
    try:
        release_as = None
        if args.release_as is not None:
            try:
                release_as = Version.parse(args.release_as.removeprefix("v"))
            except ValueError as exc:
                msg = f"--release-as: {exc}"
                raise UsageError(msg) from exc
        plan = plan_release(args.repo, release_as=release_as, allow_dirty=args.dry_run)
        sys.stdout.write(f"{plan.summary()}\ntag: {plan.tag}\n\n{plan.section}")
        if args.dry_run:
            sys.stdout.write("\n(dry run: nothing was changed)\n")
            return 0
        apply_release(plan)
        sys.stdout.write(
            f"\nreleased {plan.tag}: CHANGELOG.md committed and tagged; "
            "publish it with: git push --follow-tags\n"
        )
    except ReleaseError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
