"""Interactive explorers for the notebooks: thin ipywidgets layers over package functions.

Each builder returns an ``ipywidgets.VBox`` whose callbacks only call package code
(``lm_loader.sample_bptt_lengths``, ``schedules.slanted_triangular``, the dropout modules through
``explain.dropout_mask_image``, ``tokenizer.tokenize`` and a vocabulary's ``numericalize``) and draw
the result. The logic stays testable without widgets; the widget only moves numbers around
(the "separate concerns" habit of the jupyter-widgets tutorial).

- ``bptt_sampler()``: histogram of variable-length BPTT window lengths (bptt, p, sd sliders).
- ``dropout_mask_viewer()``: the mask each AWD-LSTM dropout draws (p slider, kind dropdown).
- ``token_viewer(vocab)``: type text, see its tokens coloured by id, unknown words in red.
- ``stlr_explorer()``: the slanted triangular learning rate (cut_frac, ratio, steps sliders).

Every builder follows ``widgets.py``'s conventions: ``show_static=True`` first displays the
default state as an ordinary figure or HTML (so headless runs keep a picture), controls redraw on
release, and the returned box carries ``controls``, ``state`` (e.g. ``state["counts"]``) and
``redraw``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np
from matplotlib.figure import Figure

from ulmfit_lesson import lm_loader, schedules, tokenizer
from ulmfit_lesson.course import explain
from ulmfit_lesson.course.widgets import explorer, slider

# --------------------------------------------------------------------------------------- BPTT


def sample_lengths(
    bptt: int,
    p_full: float = lm_loader.BPTT_FULL_PROB,
    sd: float = lm_loader.BPTT_SD,
    n_tokens: int = 100_000,
    seed: int = 0,
) -> np.ndarray:
    """Window lengths ``lm_loader.sample_bptt_lengths`` draws for streams of ``n_tokens`` tokens,
    with the probability of a full-length window ``p_full`` and the noise ``sd`` set as given.

    The last, leftover window (shorter than sampled) is dropped: it says nothing about the rule.
    """
    lengths = lm_loader.sample_bptt_lengths(n_tokens, bptt, seed, p_full=p_full, sd=sd)
    return np.asarray(lengths[:-1])


def _draw_bptt(state: dict, bptt: int, p_full: float, sd: float) -> Figure:
    lengths = sample_lengths(bptt, p_full, sd)
    bins = np.arange(0, max(int(lengths.max()), bptt + 20) + 2)
    counts, _ = np.histogram(lengths, bins=bins)
    state.update(lengths=lengths, counts=counts, bins=bins)
    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    ax.bar(bins[:-1], counts, width=1.0, color="#1f77b4", align="edge")
    ax.axvline(bptt, color="#d62728", ls="--", label=f"bptt = {bptt}")
    ax.axvline(bptt / 2, color="#ff7f0e", ls="--", label=f"bptt / 2 = {bptt / 2:g}")
    ax.axvline(lengths.mean(), color="black", lw=1, label=f"mean = {lengths.mean():.1f}")
    ax.axvline(
        lm_loader.MIN_SEQ_LEN, color="#777", ls=":", label=f"floor = {lm_loader.MIN_SEQ_LEN}"
    )
    ax.set_xlabel("sampled window length seq_len (tokens)")
    ax.set_ylabel("number of windows")
    scale = lengths / bptt
    ax.set_title(
        f"{len(lengths)} windows; learning-rate scale seq_len/bptt from {scale.min():.2f} "
        f"to {scale.max():.2f} (mean {scale.mean():.2f})",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def bptt_sampler(
    bptt: int = 70,
    p_full: float = lm_loader.BPTT_FULL_PROB,
    sd: float = lm_loader.BPTT_SD,
    show_static: bool = True,
) -> W.VBox:
    """Histogram of variable-length BPTT window lengths (AWD-LSTM §4.1; ULMFiT §3.3).

    Sliders: ``bptt`` (the base length), ``p`` (probability of a full-length window; otherwise
    ``bptt/2``) and ``sd`` (the normal noise). Each redraw calls ``lm_loader.sample_bptt_lengths``.
    ``box.state``: ``lengths``, ``counts``, ``bins``, ``figure``.
    """
    controls = {
        "bptt": slider(W.IntSlider, bptt, 10, 140, 1, "bptt"),
        "p_full": slider(W.FloatSlider, p_full, 0.0, 1.0, 0.01, "p (full length)"),
        "sd": slider(W.FloatSlider, sd, 0.0, 20.0, 0.5, "sd"),
    }
    return explorer(controls, _draw_bptt, show_static)


# --------------------------------------------------------------------------------------- dropout

_DROPOUT_TITLES = {
    "embedding": "EmbeddingDropout: whole words (rows) dropped",
    "locked": "RNNDropout (locked): one mask for the whole sequence",
    "plain": "plain nn.Dropout: a new coin at every step",
    "weight": "WeightDropout: entries of W_hh dropped (DropConnect)",
}
_DROPOUT_AXES = {
    "embedding": ("embedding dimension", "word id (vocabulary row)"),
    "locked": ("time step", "feature"),
    "plain": ("time step", "feature"),
    "weight": ("from hidden unit (h_{t-1})", "to gate unit (i, f, g, o stacked)"),
}


def _draw_dropout(state: dict, kind: str, p: float, seed: int) -> Figure:
    mask = explain.dropout_mask_image(kind, p, seed=seed)
    state.update(mask=mask)
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    scale = 1 / (1 - p)
    explain.plot_heatmap(mask, ax=ax, cmap="gray", vmin=0, vmax=max(scale, 1.0))
    xlabel, ylabel = _DROPOUT_AXES[kind]
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    dropped = float((mask == 0).mean())
    ax.set_title(
        f"{_DROPOUT_TITLES[kind]}\np = {p:.2f}: {dropped:.0%} zero (black), "
        f"kept values x {scale:.2f} (white)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def dropout_mask_viewer(kind: str = "locked", p: float = 0.5, show_static: bool = True) -> W.VBox:
    """The masks of AWD-LSTM's dropouts, drawn by the package's modules in training mode.

    Controls: ``kind`` (``embedding`` / ``locked`` / ``plain`` / ``weight``), ``p`` and a
    "new mask" button (a new random seed). ``box.state``: ``mask`` (numpy), ``figure``.
    """
    controls = {
        "kind": W.Dropdown(options=list(explain.DROPOUT_KINDS), value=kind, description="kind"),
        "p": slider(W.FloatSlider, p, 0.0, 0.9, 0.05, "p"),
        "seed": W.IntText(value=0, description="seed", layout=W.Layout(width="140px")),
    }
    button = W.Button(description="new mask", tooltip="draw another random mask")
    box = explorer(controls, _draw_dropout, show_static)
    button.on_click(lambda _: setattr(controls["seed"], "value", controls["seed"].value + 1))
    box.children = (W.HBox([*box.children[0].children, button]), *box.children[1:])
    return box


# --------------------------------------------------------------------------------------- tokens


def describe_tokens(text: str, vocab) -> dict[str, Any]:
    """Tokenize ``text``, numericalize it with ``vocab``; count the unknown words.

    Returns ``tokens``, ``ids``, ``n_unknown`` (ids equal to xxunk's id 0, excluding the special
    tokens themselves) and ``html`` (``explain.tokens_html``).
    """
    tokens = tokenizer.tokenize(text)
    ids = [int(i) for i in vocab.numericalize(tokens)]
    unk_id = tokenizer.SPECIAL_TOKENS.index(tokenizer.UNK)
    n_unknown = sum(1 for t, i in zip(tokens, ids) if i == unk_id and t != tokenizer.UNK)
    markup = explain.tokens_html(tokens, ids, unk_id=unk_id, special=tokenizer.SPECIAL_TOKENS)
    return dict(tokens=tokens, ids=ids, n_unknown=n_unknown, html=markup)


def _draw_tokens(state: dict, text: str, vocab) -> str:
    info = describe_tokens(text, vocab)
    state.update(info)
    n = len(info["tokens"])
    summary = (
        f"<p>{n} tokens, {info['n_unknown']} unknown (red) = "
        f"{info['n_unknown'] / max(n, 1):.0%}; vocabulary of {len(vocab.itos):,} tokens. "
        "Grey: special tokens. Hover a chip for its id.</p>"
    )
    return summary + info["html"]


def token_viewer(
    vocab,
    text: str = "The STORM came in, and oh! the waves were sooo high, high, high.",
    show_static: bool = True,
) -> W.VBox:
    """A text box whose tokens are shown coloured by id; unknown words in red.

    ``vocab`` needs ``numericalize(tokens) -> ids`` and ``itos`` (``vocab.Vocab``). The tokens
    update when the box loses focus or Enter is pressed. ``box.state``: ``tokens``, ``ids``,
    ``n_unknown``, ``html``.
    """
    box_text = W.Textarea(
        value=text, description="text", continuous_update=False, layout=W.Layout(width="90%")
    )
    controls = {"text": box_text}
    return explorer(controls, lambda state, text: _draw_tokens(state, text, vocab), show_static)


# --------------------------------------------------------------------------------------- STLR


def _draw_stlr(state: dict, cut_frac: float, ratio: float, steps: int, lr_max: float) -> Figure:
    t = np.arange(steps + 1)
    lrs = np.array(
        [schedules.slanted_triangular(int(i), steps, lr_max, cut_frac, ratio) for i in t]
    )
    peak = int(lrs.argmax())
    state.update(steps=t, lrs=lrs, peak_step=peak)
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    ax.plot(t, lrs, color="#1f77b4")
    ax.axvline(peak, color="#d62728", ls="--", label=f"peak at step {peak} = floor(T x cut_frac)")
    ax.axhline(lr_max / ratio, color="#777", ls=":", label=f"lr_max / ratio = {lr_max / ratio:.2g}")
    ax.set_xlabel("training step t")
    ax.set_ylabel("learning rate")
    ax.set_title(f"Slanted triangular LR: T = {steps}, cut_frac = {cut_frac}, ratio = {ratio:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stlr_explorer(
    cut_frac: float = schedules.STLR_CUT_FRAC,
    ratio: float = schedules.STLR_RATIO,
    steps: int = 1000,
    lr_max: float = 0.01,
    show_static: bool = True,
) -> W.VBox:
    """The slanted triangular learning rate (ULMFiT §3.2, eq. 3) for every step ``t`` of ``T``.

    Sliders: ``cut_frac`` (fraction of steps spent warming up), ``ratio`` (peak / lowest LR) and
    ``steps`` (``T``). Each redraw calls ``schedules.slanted_triangular``.
    ``box.state``: ``steps``, ``lrs``, ``peak_step``, ``figure``.
    """
    controls = {
        "cut_frac": slider(W.FloatSlider, cut_frac, 0.01, 0.9, 0.01, "cut_frac"),
        "ratio": slider(W.FloatSlider, ratio, 1.0, 100.0, 1.0, "ratio"),
        "steps": slider(W.IntSlider, steps, 10, 5000, 10, "steps T"),
    }
    return explorer(
        controls, lambda state, **kw: _draw_stlr(state, lr_max=lr_max, **kw), show_static
    )


__all__ = [
    "bptt_sampler",
    "sample_lengths",
    "dropout_mask_viewer",
    "describe_tokens",
    "token_viewer",
    "stlr_explorer",
]
