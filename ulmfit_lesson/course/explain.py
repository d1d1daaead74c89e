"""Helpers that let the notebooks *show* what the package does: source, tables, heatmaps, traces.

Nothing here trains or transforms data for real; every function either displays something or runs
a package function on a tiny input and returns the intermediate values a picture needs. Notebooks
call these so that they stay short and never re-implement package logic.

- ``show_source(obj)``: the code of a package function or class, syntax-highlighted.
- ``show_work_table(steps)``: the output of ``tokenizer.tokenize_and_show_work`` as a table.
- ``tokens_html(tokens, ids)``: tokens coloured by id, unknown words and special tokens marked.
- ``stream_table_html(tables)``: the LM batch layout as a coloured table (fastbook ch. 10 style).
- ``plot_heatmap(matrix)``: one matrix as an image with a colour bar.
- ``dropout_mask_image(kind, p)``: the mask each AWD-LSTM dropout draws, from the real modules.
- ``draw_lstm_cell()``: a labelled diagram of one LSTM step (its gates).

Every display function returns what it displays (an HTML string, a matplotlib object, ...), so
tests can check it and a notebook can reuse it.
"""

from __future__ import annotations

import colorsys
import html
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ulmfit_lesson.dropout import EmbeddingDropout, RNNDropout, WeightDropout

# ----------------------------------------------------------------------------------- source code


def show_source(obj: Any, display_it: bool = True) -> str:
    """Display the source of ``obj`` (a function, class or module) as a highlighted code block.

    Returns the source text (``inspect.getsource``). Why a Markdown code block: it is highlighted
    both in JupyterLab and in an exported notebook, and needs no extra dependency.
    """
    src = inspect.getsource(obj)
    if display_it:
        from IPython.display import Markdown, display

        where = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", ""))
        header = f"`{where}.{name}`" if where and name and where != name else f"`{name}`"
        display(Markdown(f"{header}\n\n```python\n{src.rstrip()}\n```"))
    return src


# ----------------------------------------------------------------------------------- tokens


def show_work_table(steps: Sequence[tuple[str, Any]], display_it: bool = True) -> str:
    """Show ``tokenize_and_show_work``'s steps as a table: one row per rule, changed rows bold.

    ``steps`` is a list of ``(rule_name, result)``; a result is a string or a list of tokens.
    Returns the HTML.
    """
    rows, previous = [], None
    for name, result in steps:
        text = " | ".join(result) if isinstance(result, list) else result
        changed = previous is not None and result != previous
        style = "font-weight:bold;" if changed else "color:#777;"
        mark = "changed" if changed else ("" if previous is None else "no change")
        rows.append(
            f"<tr><td style='text-align:left;{style}'>{html.escape(name)}</td>"
            f"<td style='text-align:left;font-family:monospace;white-space:pre-wrap;{style}'>"
            f"{html.escape(repr(text) if isinstance(text, str) else text)}</td>"
            f"<td style='color:#777;white-space:nowrap'>{mark}</td></tr>"
        )
        previous = result
    out = (
        "<table><tr><th style='text-align:left'>step</th><th style='text-align:left'>result</th>"
        "<th></th></tr>" + "".join(rows) + "</table>"
    )
    if display_it:
        _display_html(out)
    return out


def id_colour(token_id: int, n_colours: int = 24) -> str:
    """A light background colour for a token id (same id, same colour; neighbours differ)."""
    hue = (token_id * 0.618033988749895) % 1.0  # golden-ratio steps spread hues evenly
    r, g, b = colorsys.hls_to_rgb(hue, 0.85, 0.7)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


UNK_STYLE = "background:#d62728;color:white;font-weight:bold;"
SPECIAL_STYLE = "background:#e0e0e0;color:#555;font-style:italic;"


def tokens_html(
    tokens: Sequence[str],
    ids: Sequence[int] | None = None,
    unk_id: int = 0,
    special: Sequence[str] = (),
    show_ids: bool = True,
) -> str:
    """Tokens as coloured chips: colour by id, unknown words red, special tokens grey.

    Args:
        tokens: the token strings (what the tokenizer produced).
        ids: their ids (what the vocabulary made of them); ``None`` colours by token text only.
        unk_id: the id of ``xxunk`` (0 in fastai's order): those chips are red.
        special: tokens drawn grey (e.g. ``tokenizer.SPECIAL_TOKENS``).
        show_ids: write the id under each token.
    Returns:
        An HTML string (display it with ``IPython.display.HTML``).
    """
    chips = []
    special = set(special)
    for i, tok in enumerate(tokens):
        tid = None if ids is None else int(ids[i])
        if tid is not None and tid == unk_id and tok not in special:
            style = UNK_STYLE
        elif tok in special:
            style = SPECIAL_STYLE
        else:
            style = f"background:{id_colour(tid if tid is not None else hash(tok) % 9973)};"
        shown = html.escape(tok.replace("\n", "\\n"))
        below = f"<br><small>{tid}</small>" if show_ids and tid is not None else ""
        chips.append(
            f"<span title='id {tid}' style='display:inline-block;margin:2px;padding:1px 4px;"
            f"border-radius:4px;text-align:center;font-family:monospace;{style}'>{shown}{below}</span>"
        )
    return "<div style='line-height:2.2'>" + "".join(chips) + "</div>"


# ----------------------------------------------------------------------------------- LM batches

# Batch colours (pastel, distinguishable); batch k gets BATCH_COLOURS[k % len].
BATCH_COLOURS = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2"]


def stream_table_html(
    tables: Sequence[Sequence[Sequence[Any]]],
    first_batch: int = 0,
    show_header: bool = True,
    display_it: bool = False,
) -> str:
    """The language-model layout as one table: row ``i`` = stream ``i``, cells coloured by batch.

    Args:
        tables: ``tables[k][i]`` is row ``i`` of batch ``k`` (a list of tokens or ids), as returned
            by ``lm_loader.stream_table`` or built from an ``LMLoader``'s batches.
        first_batch: the colour/number of ``tables[0]`` (to show batches 3-5 in their own colours).
        show_header: a header row naming the batches.
    Returns:
        HTML. Put the tables side by side: each row reads as one contiguous piece of text, and each
        colour is one batch, i.e. what the model sees in one step.
    """
    if not tables:
        raise ValueError("stream_table_html needs at least one batch table")
    bs = len(tables[0])
    cell = (
        "padding:2px 6px;border:1px solid white;font-family:monospace;text-align:center;"
        "white-space:nowrap;"
    )
    header = ""
    if show_header:
        header = "<tr><th></th>" + "".join(
            f"<th colspan={len(t[0])} style='background:{_batch_colour(first_batch + k)};"
            f"text-align:center'>batch {first_batch + k + 1}</th>"
            for k, t in enumerate(tables)
        )
        header += "</tr>"
    body = []
    for i in range(bs):
        cells = [f"<td style='{cell}color:#777'>stream {i}</td>"]
        for k, table in enumerate(tables):
            colour = _batch_colour(first_batch + k)
            cells += [
                f"<td style='{cell}background:{colour}'>{html.escape(str(tok))}</td>"
                for tok in table[i]
            ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = "<table style='border-collapse:collapse'>" + header + "".join(body) + "</table>"
    if display_it:
        _display_html(out)
    return out


def _batch_colour(k: int) -> str:
    return BATCH_COLOURS[k % len(BATCH_COLOURS)]


# ----------------------------------------------------------------------------------- pictures


def plot_heatmap(
    matrix,
    ax=None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
):
    """Draw a 2-D array (tensor or numpy) as an image; returns the matplotlib ``AxesImage``.

    Rows go down, columns go across (``matrix[i, j]`` is row ``i``), as the array is printed.
    """
    import matplotlib.pyplot as plt

    data = matrix.detach().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if data.ndim != 2:
        raise ValueError(f"plot_heatmap needs a 2-D matrix, got shape {data.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    image = ax.imshow(data, aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return image


DROPOUT_KINDS = ("embedding", "locked", "plain", "weight")


def dropout_mask_image(
    kind: str,
    p: float,
    seed: int = 0,
    vocab_size: int = 30,
    emb_size: int = 20,
    seq_len: int = 40,
    features: int = 20,
    hidden_size: int = 8,
) -> np.ndarray:
    """The multiplier a dropout applies, as a 2-D array, drawn by the package's own modules.

    Each module is run in training mode on an input of ones, so what comes out *is* the mask:
    0 where something was dropped, ``1/(1-p)`` where it was kept (inverted dropout).

    kinds:
        ``"embedding"``: ``EmbeddingDropout`` on a ``(vocab_size, emb_size)`` embedding, looked up
            for every word: rows are words, so a dropped word is a whole zero row.
        ``"locked"``: ``RNNDropout`` on one sequence ``(seq_len, features)``, returned as
            ``(features, seq_len)`` (time across): each feature is on or off for the whole sequence.
        ``"plain"``: ``torch.nn.Dropout`` on the same input, for contrast: a fresh coin per step.
        ``"weight"``: ``WeightDropout`` on an LSTM with ``hidden_size`` units: the dropped W_hh,
            shape ``(4 * hidden_size, hidden_size)`` (the four gates stacked).
    The global random state is left untouched (``seed`` picks the mask).
    """
    if kind not in DROPOUT_KINDS:
        raise ValueError(f"unknown dropout kind {kind!r}; choose one of {', '.join(DROPOUT_KINDS)}")
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        if kind == "embedding":
            emb = nn.Embedding(vocab_size, emb_size)
            emb.weight.fill_(1.0)
            module = EmbeddingDropout(emb, p).train()
            out = module(torch.arange(vocab_size))  # (vocab_size, emb_size): one row per word
        elif kind in ("locked", "plain"):
            x = torch.ones(1, seq_len, features)  # one sequence, batch-first
            module = RNNDropout(p) if kind == "locked" else nn.Dropout(p)
            out = module.train()(x)[0].T  # (features, seq_len): time runs across
        else:
            lstm = nn.LSTM(hidden_size, hidden_size, 1, batch_first=True)
            module = WeightDropout(lstm, p).train()
            module.weight_hh_l0_raw.fill_(1.0)
            out = module.dropped_weight()  # (4 * hidden_size, hidden_size)
    return out.detach().numpy().copy()


def draw_lstm_cell(ax=None):
    """A diagram of one LSTM time step: the cell-state line on top, the four gates underneath.

    c_t = f * c_{t-1} + i * g   and   h_t = o * tanh(c_t), with f, i, o = sigmoid(...) and
    g = tanh(...), each a linear function of [h_{t-1}, x_t]. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    ax.add_patch(
        FancyBboxPatch((1.2, 0.7), 7.6, 4.6, boxstyle="round,pad=0.1", fc="#f4f4f4", ec="#999")
    )

    def arrow(x0, y0, x1, y1, colour="#333"):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", lw=1.6, color=colour))

    def op(x, y, text):
        ax.add_patch(Circle((x, y), 0.28, fc="white", ec="#333", lw=1.4, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=12, zorder=4)

    def gate(x, text, name, colour):
        box = FancyBboxPatch(
            (x - 0.5, 1.5), 1.0, 0.75, boxstyle="round,pad=0.05", fc=colour, ec="#333", zorder=3
        )
        ax.add_patch(box)
        ax.text(x, 2.0, text, ha="center", va="center", fontsize=11, zorder=4)
        ax.text(x, 1.68, name, ha="center", va="center", fontsize=8, color="#333", zorder=4)

    # Cell state: the "conveyor belt" along the top, changed only by * and +.
    arrow(0.2, 4.6, 2.42, 4.6)
    ax.text(0.2, 4.85, "$c_{t-1}$", fontsize=12)
    op(2.7, 4.6, "×")
    arrow(2.98, 4.6, 4.92, 4.6)
    op(5.2, 4.6, "+")
    arrow(5.48, 4.6, 9.8, 4.6)
    ax.text(9.3, 4.85, "$c_t$", fontsize=12)
    # Gates, fed by [h_{t-1}, x_t] along the bottom.
    arrow(0.2, 1.0, 2.0, 1.0)
    ax.text(0.2, 1.15, "$h_{t-1}$", fontsize=12)
    arrow(1.6, 0.0, 1.6, 0.9)
    ax.text(1.75, 0.1, "$x_t$", fontsize=12)
    ax.plot([1.6, 7.6], [1.0, 1.0], color="#333", lw=1.6)
    for x, text, name, colour in [
        (2.7, "σ", "forget f", "#ff9896"),
        (3.9, "σ", "input i", "#98df8a"),
        (5.3, "tanh", "candidate g", "#aec7e8"),
        (6.9, "σ", "output o", "#ffbb78"),
    ]:
        ax.plot([x, x], [1.0, 1.5], color="#333", lw=1.6)
        gate(x, text, name, colour)
    arrow(2.7, 2.3, 2.7, 4.32)  # f * c_{t-1}
    op(4.6, 3.3, "×")  # i * g
    ax.plot([3.9, 3.9, 4.32], [2.3, 3.3, 3.3], color="#333", lw=1.6)
    ax.plot([5.3, 5.3, 4.88], [2.3, 3.3, 3.3], color="#333", lw=1.6)
    ax.plot([4.6, 4.6], [3.58, 4.0], color="#333", lw=1.6)
    arrow(4.6, 4.0, 5.0, 4.4)
    # Output: h_t = o * tanh(c_t).
    ax.plot([7.8, 7.8], [4.6, 4.3], color="#333", lw=1.6)
    ax.add_patch(
        FancyBboxPatch(
            (7.45, 3.55), 0.7, 0.45, boxstyle="round,pad=0.05", fc="#c5b0d5", ec="#333", zorder=3
        )
    )
    ax.text(7.8, 3.78, "tanh", ha="center", va="center", fontsize=10, zorder=4)
    arrow(7.8, 3.5, 7.8, 3.08)
    op(7.8, 2.8, "×")
    ax.plot([6.9, 6.9, 7.52], [2.3, 2.8, 2.8], color="#333", lw=1.6)
    ax.plot([8.08, 9.0], [2.8, 2.8], color="#333", lw=1.6)
    arrow(9.0, 2.8, 9.8, 2.8)
    ax.text(9.3, 3.0, "$h_t$", fontsize=12)
    ax.plot([9.0, 9.0], [2.8, 0.0], color="#333", lw=1.6, ls="--")
    ax.text(9.1, 0.2, "to the next layer\nand the next step", fontsize=8, color="#555")
    ax.set_title(
        "One LSTM step: gates decide what to forget, what to write, what to show", fontsize=11
    )
    return ax


# ----------------------------------------------------------------------------------- toy data


def _display_html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


__all__ = [
    "show_source",
    "show_work_table",
    "id_colour",
    "tokens_html",
    "stream_table_html",
    "BATCH_COLOURS",
    "plot_heatmap",
    "DROPOUT_KINDS",
    "dropout_mask_image",
    "draw_lstm_cell",
]
