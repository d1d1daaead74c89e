"""The workshop subcommands of ``python -m ulmfit_lesson``: ``doctor``, ``pack-kit``, ``unpack-kit``,
``fetch``, ``serve-kit`` (and ``build-corpus``, from ``corpus_builder``).

``cli.py`` adds them with ``cli_workshop.register(subparsers)``; each subcommand stores its handler
as ``func`` (``handler(args) -> exit code``). Standalone: ``python -m ulmfit_lesson.course.cli_workshop
doctor``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ulmfit_lesson import corpus_builder
from ulmfit_lesson.course import doctor, kit, plan


def _doctor(args: argparse.Namespace) -> int:
    return doctor.run_doctor(
        names=args.names or None,  # default: what the notebooks read here
        probe=not args.no_probe,
        probe_seconds=args.probe_seconds,
        as_json=args.json,
    )


def _pack_kit(args: argparse.Namespace) -> int:
    try:
        kit.pack_kit(args.out, names=args.names or kit.COURSE_ENTRIES)
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
        folder = kit.use_kit(args.kit, dest=args.to, set_env=False)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    folder = folder.resolve()
    print("Now point the course at it (then check with `python -m ulmfit_lesson doctor`):")
    print(f'  export ULMFIT_DATA="{folder}"          # macOS / Linux')
    print(f"  set ULMFIT_DATA={folder}                # Windows cmd")
    print(f'  $env:ULMFIT_DATA = "{folder}"           # Windows PowerShell')
    return 0


def _fetch(args: argparse.Namespace) -> int:
    """Download (and verify, extract) registry entries now: default, what the notebooks read."""
    from ulmfit_lesson import registry

    names = args.names or [n for n in plan.course_needs() if not registry.available_locally(n)]
    pin, old_pins = None, os.environ.get(registry.PIN_ENV)
    try:
        if args.sha256:
            if len(args.sha256) != 64 or set(args.sha256.lower()) - set("0123456789abcdef"):
                print("error: --sha256 takes 64 hexadecimal digits", file=sys.stderr)
                return 2
            if len(names) != 1 or len(registry.get_entry(names[0]).files) != 1:
                print("error: --sha256 pins one file: name one entry of one file", file=sys.stderr)
                return 2
            pin = registry.get_entry(names[0]).files[0]
            if pin.sha256:
                print(
                    f"error: {pin.filename} has a published sha256: nothing to pin", file=sys.stderr
                )
                return 2
            pins = [os.environ.get(registry.PIN_ENV, ""), f"{pin.filename}={args.sha256.lower()}"]
            os.environ[registry.PIN_ENV] = ",".join(p for p in pins if p)
        for name in names:
            print(f"{name}: {registry.fetch(name)}")
        if pin is not None:  # remember the pin: every later use is checked against it
            path = registry.fetch_file(names[0], pin.filename)
            registry.record_sha256(
                pin, args.sha256.lower(), path.stat().st_size, f"--sha256 ({path})"
            )
    except (OSError, ValueError) as err:  # FileNotFoundError, DownloadError, ChecksumError
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:  # the pin lives in the record from now on, not in this process's environment
        if old_pins is None:
            os.environ.pop(registry.PIN_ENV, None)
        else:
            os.environ[registry.PIN_ENV] = old_pins
    if not names:
        print("Nothing to download: everything the notebooks read is on this machine.")
    return 0


def _serve_kit(args: argparse.Namespace) -> int:
    try:
        return kit.serve_kit(args.kit, out=args.out, host=args.host, port=args.port)
    except (OSError, ValueError) as err:  # no data, a port in use, a damaged kit
        print(f"error: {err}", file=sys.stderr)
        return 1


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
        help=f"registry entries (default: {' '.join(kit.COURSE_ENTRIES)})",
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

    p = subparsers.add_parser(
        "fetch",
        help="download datasets and models now (e.g. before going offline)",
        description="Download, verify and extract registry entries into the cache now. Without "
        "names: what the notebooks read on this machine and is not here yet.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="registry entries (wt103-fwd, ...)")
    p.add_argument(
        "--sha256",
        metavar="DIGEST",
        help="expected sha256 of a file without a published one (as ULMFIT_SHA256 does); "
        "recorded, so every later use is checked against it",
    )
    p.set_defaults(func=_fetch)

    p = subparsers.add_parser(
        "serve-kit",
        help="serve the course's files to a workshop room (ULMFIT_MIRROR)",
        description="Lay out the course's datasets and models (from --kit, or this machine's "
        "data folders) as a mirror and serve it over HTTP until Ctrl-C; prints the "
        "ULMFIT_MIRROR line participants set. With --out, only write the folder.",
    )
    p.add_argument("--kit", default=None, help="ulmfit-kit.tar.gz or its folder (default: none)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--out", type=Path, default=None, help="only write the mirror folder here (copies)"
    )
    p.set_defaults(func=_serve_kit)

    corpus_builder.register(subparsers)  # build-corpus: rebuild general_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulmfit_lesson.course.cli_workshop")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
