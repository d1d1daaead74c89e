"""The workshop subcommands of ``python -m ulmfit_lesson``: ``doctor``, ``pack-kit``, ``unpack-kit``.

``cli.py`` adds them with ``cli_workshop.register(subparsers)``; each subcommand stores its handler
as ``func`` (``handler(args) -> exit code``). Standalone: ``python -m ulmfit_lesson.cli_workshop
doctor``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import workshop


def _doctor(args: argparse.Namespace) -> int:
    return workshop.run_doctor(
        names=args.names or workshop.COURSE_ENTRIES,
        probe=not args.no_probe,
        probe_seconds=args.probe_seconds,
        as_json=args.json,
    )


def _pack_kit(args: argparse.Namespace) -> int:
    try:
        workshop.pack_kit(args.out, names=args.names or workshop.COURSE_ENTRIES)
    except (FileNotFoundError, ValueError) as err:  # ChecksumError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"Participants: extract it and set ULMFIT_DATA to the folder, or run\n"
        f"  python -m ulmfit_lesson unpack-kit {args.out} --to DIR"
    )
    return 0


def _unpack_kit(args: argparse.Namespace) -> int:
    try:
        folder = workshop.use_kit(args.kit, dest=args.to, set_env=False)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    folder = folder.resolve()
    print("Now point the course at it (then check with `python -m ulmfit_lesson doctor`):")
    print(f'  export ULMFIT_DATA="{folder}"          # macOS / Linux')
    print(f"  set ULMFIT_DATA={folder}                # Windows cmd")
    print(f'  $env:ULMFIT_DATA = "{folder}"           # Windows PowerShell')
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``doctor``, ``pack-kit`` and ``unpack-kit`` to the package CLI's subparsers."""
    p = subparsers.add_parser(
        "doctor",
        help="pre-flight check of this machine for the course",
        description="Check Python, packages, data and weights, disk space and speed; "
        "exit 1 if something essential is missing.",
    )
    p.add_argument("--names", nargs="+", metavar="NAME", help="registry entries to check")
    p.add_argument("--no-probe", action="store_true", help="skip the speed probe")
    p.add_argument(
        "--probe-seconds", type=float, default=6.0, help="speed probe budget (default 6)"
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=_doctor)

    p = subparsers.add_parser(
        "pack-kit",
        help="pack the course's data and weights into one offline archive",
        description="Pack the registry entries the course uses (checked against their sha256) "
        "into one .tar.gz whose folder is an ULMFIT_DATA directory, with SHA256SUMS.",
    )
    p.add_argument("--out", type=Path, default=Path("ulmfit-kit.tar.gz"), help="archive to write")
    p.add_argument(
        "--names",
        nargs="+",
        metavar="NAME",
        help=f"registry entries (default: {' '.join(workshop.COURSE_ENTRIES)})",
    )
    p.set_defaults(func=_pack_kit)

    p = subparsers.add_parser(
        "unpack-kit",
        help="extract and verify a workshop kit; print the ULMFIT_DATA line",
        description="Extract a kit archive (or check a kit folder, or download a kit URL) and "
        "verify every file against SHA256SUMS.",
    )
    p.add_argument("kit", help="ulmfit-kit.tar.gz, an extracted ulmfit-kit folder, or a URL")
    p.add_argument("--to", type=Path, default=None, help="where to extract (default: beside it)")
    p.set_defaults(func=_unpack_kit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_lesson.cli_workshop")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
