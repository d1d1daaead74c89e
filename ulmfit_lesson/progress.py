"""Training progress: a tqdm bar with the live loss in a terminal, a live loss plot in a notebook.

``make_progress(total)`` picks the display for where the code runs; the training loop only calls
``update(record)`` after each step, ``epoch_end(record)`` after each epoch and ``close()``.

In a notebook the plot is drawn with matplotlib's Agg backend into PNG bytes and shown through one
IPython display handle that is updated in place (at most every ``min_interval`` seconds, so drawing
never dominates a fast loop). That works the same in JupyterLab, in VS Code and in headless
``nbconvert``/``nbval`` runs (where the last update stays in the saved notebook as a static image),
and it needs neither ipywidgets nor any particular matplotlib backend.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence

from tqdm.auto import tqdm


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, classic notebook, VS Code, nbconvert, nbval)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def smooth(values: Sequence[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (as fastai's ``SmoothenValue``, which uses
    beta 0.98; 0.9 lags less on the short runs of a lesson).

    Why: a per-step LM loss jumps with every batch; the smoothed curve shows the trend.
    """
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out


class NullProgress:
    """Shows nothing (``progress=False``)."""

    def update(self, record: dict) -> None:
        pass

    def epoch_end(self, record: dict) -> None:
        pass

    def note(self, text: str) -> None:
        """A line of text beside the progress (e.g. how long the run will take)."""

    def close(self) -> None:
        pass


class TerminalProgress(NullProgress):
    """A tqdm bar over all steps with the smoothed loss, and a line per epoch with its metrics."""

    def __init__(self, total: int | None, desc: str = "train"):
        self.bar = tqdm(total=total, desc=desc, dynamic_ncols=True, leave=True)
        self.avg, self.n = 0.0, 0

    def update(self, record: dict) -> None:
        self.n += 1
        self.avg = 0.9 * self.avg + 0.1 * record["loss"]
        self.bar.set_postfix(loss=f"{self.avg / (1 - 0.9**self.n):.3f}", refresh=False)
        self.bar.update(1)

    def epoch_end(self, record: dict) -> None:
        self.bar.write(format_epoch(record))

    def note(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()


def format_epoch(record: dict) -> str:
    """One line for an epoch record, e.g. ``epoch 1: train_loss 4.812  valid_loss 4.530 ...``."""
    parts = [f"epoch {record.get('epoch', '?')}:"]
    for key, value in record.items():
        if key != "epoch" and isinstance(value, float):
            parts.append(f"{key} {value:.4g}" if not math.isnan(value) else f"{key} nan")
    return "  ".join(parts)


class NotebookProgress(NullProgress):
    """A loss plot (raw and smoothed training loss, validation loss per epoch) updated in place."""

    def __init__(self, total: int | None, desc: str = "train", min_interval: float = 2.0):
        from IPython.display import HTML, display

        self.total, self.desc, self.min_interval = total, desc, min_interval
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.valid: list[tuple[int, float]] = []
        self.epoch_lines: list[str] = []
        self.start = self.last_draw = time.time()
        self.text = display(HTML(self._status()), display_id=True)
        self.plot = display(HTML(""), display_id=True)

    def _status(self) -> str:
        done = len(self.steps)
        elapsed = time.time() - self.start
        of = f"/{self.total}" if self.total else ""
        eta = ""
        if self.total and done:
            eta = f", about {elapsed / done * max(self.total - done, 0):.0f} s left"
        loss = f", loss {smooth(self.losses)[-1]:.3f}" if self.losses else ""
        lines = "".join(f"<br>{line}" for line in self.epoch_lines)
        return f"<code>{self.desc}: step {done}{of}{loss} ({elapsed:.0f} s{eta}){lines}</code>"

    def _draw(self) -> None:
        from IPython.display import HTML, Image
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.text.update(HTML(self._status()))
        if not self.losses:
            return
        fig = Figure(figsize=(6, 3.2), dpi=80)  # not pyplot: no global figure, no auto-display
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(self.steps, self.losses, alpha=0.3, label="train (per step)")
        ax.plot(self.steps, smooth(self.losses), label="train (smoothed)")
        if self.valid:
            ax.plot(*zip(*self.valid), "o-", label="valid")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if self.total:
            ax.set_xlim(0, self.total)
        ax.legend(loc="upper right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        self.plot.update(Image(data=buf.getvalue(), format="png"))
        self.last_draw = time.time()

    def update(self, record: dict) -> None:
        self.steps.append(record.get("step", len(self.steps)) + 1)
        self.losses.append(record["loss"])
        if time.time() - self.last_draw >= self.min_interval:
            self._draw()

    def epoch_end(self, record: dict) -> None:
        if "valid_loss" in record and self.steps:
            self.valid.append((self.steps[-1], record["valid_loss"]))
        self.epoch_lines.append(format_epoch(record))
        self._draw()

    def note(self, text: str) -> None:
        self.epoch_lines.append(text)
        self._draw()

    def close(self) -> None:
        self._draw()  # the final, static picture that stays in the saved notebook


def make_progress(total: int | None, desc: str = "train", enabled: bool = True) -> NullProgress:
    """The right display for here: ``NotebookProgress`` in Jupyter, ``TerminalProgress`` elsewhere."""
    if not enabled:
        return NullProgress()
    if in_notebook():
        return NotebookProgress(total, desc)
    return TerminalProgress(total, desc)


__all__ = [
    "in_notebook",
    "smooth",
    "make_progress",
    "NullProgress",
    "TerminalProgress",
    "NotebookProgress",
    "format_epoch",
]
