"""The command line: ``python -m ulmfit_lesson <command>`` (or ``ulmfit-lesson <command>``).

The commands come from three modules, each with a ``register(subparsers)`` function that adds its
subparsers and stores a handler ``func(args) -> exit code`` on each::

    cli_lm.py                   pretrain, finetune-lm, evaluate-lm, generate (stages 1-2)
    cli_classifier.py           train-classifier, predict (stage 3)
    course/cli_workshop.py      doctor, pack-kit, unpack-kit, fetch, serve-kit, build-corpus

Errors: an expected failure (a bad file or argument, a damaged checkpoint, a missing or unwritable
path, a full disk) prints ``error: <one paragraph>`` and exits 1; a usage error exits 2; Ctrl-C (and
SIGTERM while training) 130. ``--debug``, before or after the command, shows the traceback instead
(``run_command``). Argument ranges are checked by argparse (``at_least``) before anything loads.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import cli_classifier, cli_lm
from .cli_args import UsageError
from .course import cli_workshop


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ulmfit_lesson`` parser with every command."""
    from . import __version__

    # Usage lines name the command as it was typed: the `ulmfit-lesson` console script, or
    # `python -m ulmfit_lesson` (argparse alone would print `__main__.py` for the latter).
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    parser = argparse.ArgumentParser(
        prog="ulmfit-lesson" if script.startswith("ulmfit-lesson") else "python -m ulmfit_lesson",
        description="ULMFiT (Howard & Ruder 2018), stage by stage.",
    )
    parser.add_argument("--version", action="version", version=f"ulmfit-lesson {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (cli_lm, cli_classifier, cli_workshop):
        module.register(subparsers)
    return parser


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on ``parser`` and on each of its subcommands (either place works)."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for sub in action.choices.values():
            sub.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,  # keep a --debug given before the command
                help="show the traceback of an error",
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; expected failures print one paragraph and exit 1 (see ``run_command``)."""
    parser = build_parser()
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args)


# ---------------------------------------------------------------------------------------------------
# Errors: what a user sees
# ---------------------------------------------------------------------------------------------------


def _oserror_message(err: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` as ``x: permission denied``, plus what to do."""
    import errno

    if err.errno is None or not err.strerror:
        return str(err)  # one of ours: the message already names the path
    where = err.filename or "a file"
    if err.errno == errno.ENOSPC:
        return f"{where}: the disk is full; free some space and run again"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: {err.strerror.lower()}; choose a location you can write to (or read)"
    return f"{where}: {err.strerror}"


def expected_error_message(err: BaseException) -> str | None:
    """The message a user gets for an expected failure, or ``None`` for a bug (a traceback).

    Expected: bad inputs and files (``ValueError``, its subclasses such as ``CheckpointError``),
    files missing, unwritable or full disks (``OSError``), broken archives, out of GPU memory.
    """
    import pickle
    import tarfile
    import zipfile

    if type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, without importing torch
        return f"out of memory on the device: lower --bs (or use --device cpu). ({err})"
    if isinstance(err, OSError):
        return _oserror_message(err)
    if isinstance(err, (ValueError, tarfile.TarError, zipfile.BadZipFile, pickle.UnpicklingError)):
        return str(err)
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, ``warning: ...``, not Python's file:line: Category: form."""
    print(f"warning: {message}", file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    """Call ``args.func(args)``; map expected errors to a message and an exit code.

    0 success; 1 an expected failure (one paragraph on stderr, no traceback); 2 a usage error;
    130 Ctrl-C or SIGTERM during training. ``--debug`` re-raises, so the traceback shows.
    """
    import warnings

    from .interrupt import sigterm_as_keyboard_interrupt

    debug = getattr(args, "debug", False)
    # SIGTERM as Ctrl-C for the whole command, not only inside training loops: a run killed while
    # loading or evaluating also unwinds, and whole_run removes its temporary folder.
    with warnings.catch_warnings(), sigterm_as_keyboard_interrupt():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except UsageError as err:
            if debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as err:  # Ctrl-C; while training SIGTERM too
            if debug:
                raise
            print(f"\ninterrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
            return 130  # the shell's code for "stopped by Ctrl-C" (128 + SIGINT)
        except Exception as err:
            message = expected_error_message(err)
            if message is None or debug:
                raise
            print(f"error: {message}\n(run with --debug to see the traceback)", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
