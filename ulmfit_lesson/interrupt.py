"""Stopping training cleanly: Ctrl-C and SIGTERM end with a message that says how to go on.

A long run gets stopped: Ctrl-C in a terminal or notebook (SIGINT, which Python turns into
``KeyboardInterrupt``), or SIGTERM from ``kill``, ``timeout``, a batch scheduler or ``torchrun``.
``fit_lm`` and ``train_classifier`` run their loop inside :func:`stop_cleanly`: there both signals
unwind the same way (:func:`sigterm_as_keyboard_interrupt`) and become a :class:`TrainingInterrupted`
made by :func:`training_interrupted`: what stopped training, how far it got, and which checkpoint to
resume from. Nothing is saved at the moment of the interrupt (a step may be half done); the last checkpoint
is whole because every write is atomic (``checkpoint.py``), and ``resume=True`` continues from it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training; the message says where the last checkpoint is.

    A ``KeyboardInterrupt``, so whatever handles Ctrl-C (a notebook, a shell, the CLI) handles it too.
    """


@contextmanager
def sigterm_as_keyboard_interrupt():
    """Inside the block, SIGTERM raises ``KeyboardInterrupt("SIGTERM")``, as Ctrl-C (SIGINT) does.

    Why: ``kill``, ``timeout``, a batch scheduler's pre-emption and ``torchrun`` stop a job with
    SIGTERM, whose default action ends Python on the spot: no ``finally`` blocks, no message saying
    where the checkpoint is. As an exception it unwinds like Ctrl-C. The previous handler comes back
    on exit. Only the main thread may install a handler; in any other thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:  # None: the old handler was not set from Python; the default is the best guess
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def training_interrupted(
    err: KeyboardInterrupt, progress: str, checkpoint_path: Path | None, saved: str | None
) -> TrainingInterrupted:
    """The :class:`TrainingInterrupted` to raise: what stopped training, when, and how to go on.

    ``progress``: how far training got ("after 27 of 60 steps"); ``saved``: what the last checkpoint
    on disk holds ("step 20"), ``None`` if none was written.
    """
    cause = "SIGTERM" if str(err) == "SIGTERM" else "Ctrl-C (KeyboardInterrupt)"
    message = f"training stopped by {cause} {progress}."
    if checkpoint_path is None:
        return TrainingInterrupted(f"{message} Nothing was saved (no checkpoint_path).")
    if saved is None:
        return TrainingInterrupted(f"{message} No checkpoint had been written yet.")
    return TrainingInterrupted(
        f"{message} The last checkpoint, {checkpoint_path}, is intact and holds {saved}; run the "
        "same training again with resume=True (command line: --resume) to continue from there."
    )


@contextmanager
def stop_cleanly(
    progress: Callable[[], str], checkpoint_path: Path | None, saved: Callable[[], str | None]
):
    """Run a training loop so that Ctrl-C and SIGTERM end it with a :class:`TrainingInterrupted`.

    ``progress`` and ``saved`` are asked at the moment of the interrupt (see
    :func:`training_interrupted`): how far training got, and what the last checkpoint holds.
    """
    try:
        with sigterm_as_keyboard_interrupt():  # kill, timeout, pre-emption: as Ctrl-C
            yield
    except KeyboardInterrupt as err:
        raise training_interrupted(err, progress(), checkpoint_path, saved()) from None


__all__ = [
    "TrainingInterrupted",
    "sigterm_as_keyboard_interrupt",
    "stop_cleanly",
    "training_interrupted",
]
