"""Pictures and explorers for the language-model notebooks (00 overview, 04 pretraining, 05 LM
fine-tuning): thin layers over package functions, built with ``widgets.py``.

- ``draw_ulmfit_stages(highlight)``: ULMFiT's three stages as a diagram (after the paper's Fig. 1),
  one stage optionally highlighted ("you are here").
- ``next_words(model, vocab, prompt, temperature)``: the most likely next tokens and their
  probabilities (``generate.next_word_probs``), plus the probability left for all other tokens.
- ``next_word_explorer(model, vocab)``: type a prompt, move the temperature slider, see the
  next-token distribution change; a button writes a continuation with ``generate.generate``.

Builders follow ``widgets.py``'s conventions: ``show_static=True`` first displays the default state
as an ordinary figure (so headless runs keep a picture), controls redraw on release
(``continuous_update=False``), and the returned box carries ``controls``, ``state`` and ``redraw``.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W
from IPython.display import HTML, display
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import nn

from ulmfit_lesson import generate, tokenizer
from ulmfit_lesson.course.widgets import explorer, slider

# ------------------------------------------------------------------------------- the three stages

# Colours: knowledge from the general corpus (blue), adapted to the target text (green), new (orange).
_GENERAL, _TARGET, _NEW, _GREY = "#9ecae1", "#a1d99b", "#fdae6b", "#e0e0e0"
_LAYERS = ("embedding (400)", "LSTM 1 (1152)", "LSTM 2 (1152)", "LSTM 3 (400)")

# (title, data, tricks, colour of the four encoder layers, top box, colour of the top box)
STAGES = (
    (
        "(a) LM pretraining",
        "general text, no labels\n(WikiText-103; here general_corpus)",
        "AWD-LSTM regularisation\n(dropouts, AR/TAR)",
        _GENERAL,
        "next word over the vocabulary",
        _GENERAL,
    ),
    (
        "(b) LM fine-tuning",
        "target-task text, no labels\n(the poems)",
        "new words: mean embedding\ndiscriminative LRs, STLR",
        _TARGET,
        "next word (+ the poems' words)",
        _TARGET,
    ),
    (
        "(c) classifier fine-tuning",
        "target-task text + labels\n(happy / sad verses)",
        "gradual unfreezing, concat pooling\ndiscriminative LRs, STLR",
        _TARGET,
        "pooling + new head -> label",
        _NEW,
    ),
)


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, bold=False) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.01,rounding_size=0.02", fc=colour, ec="#555", lw=1
        )
    )
    ax.text(
        x + w / 2,
        y + h / 2,
        text,
        ha="center",
        va="center",
        fontsize=8,
        fontweight="bold" if bold else "normal",
    )


def draw_ulmfit_stages(highlight: int | None = None) -> Figure:
    """ULMFiT's three stages side by side (Howard & Ruder 2018, Fig. 1 and §3).

    Each panel stacks the same AWD-LSTM encoder (embedding, three LSTM layers) under its top layer:
    the LM's next-word softmax in stages 1 and 2, pooling and a new classifier head in stage 3.
    Arrows carry the weights from one stage to the next. ``highlight``: 1, 2 or 3 frames that stage
    and greys the others ("you are here" in notebooks 04-06). Returns the matplotlib Figure.
    """
    if highlight not in (None, 1, 2, 3):
        raise ValueError(f"highlight must be None, 1, 2 or 3, got {highlight!r}")
    fig = Figure(figsize=(11, 4.2))
    ax = fig.subplots()
    ax.set_xlim(0, 3.3)
    ax.set_ylim(-0.5, 1.1)
    ax.axis("off")
    width, left_margin, gap = 0.9, 0.1, 0.2
    for i, (title, data, tricks, enc_colour, top, top_colour) in enumerate(STAGES):
        x = left_margin + i * (width + gap)
        dim = highlight is not None and highlight != i + 1
        for j, name in enumerate(_LAYERS):
            _box(ax, x, 0.05 + j * 0.17, width, 0.13, name, _GREY if dim else enc_colour)
        _box(ax, x, 0.05 + 4 * 0.17, width, 0.15, top, _GREY if dim else top_colour, bold=True)
        ax.text(
            x + width / 2,
            1.02,
            title,
            ha="center",
            fontsize=11,
            fontweight="bold",
            color="#999" if dim else "black",
        )
        ax.text(
            x + width / 2,
            -0.03,
            data,
            ha="center",
            va="top",
            fontsize=8,
            color="#999" if dim else "#222",
        )
        ax.text(
            x + width / 2,
            -0.3,
            tricks,
            ha="center",
            va="top",
            fontsize=8,
            style="italic",
            color="#999" if dim else "#08519c",
        )
        if highlight == i + 1:
            ax.add_patch(
                FancyBboxPatch(
                    (x - 0.04, -0.47),
                    width + 0.08,
                    1.55,
                    boxstyle="round,pad=0.01",
                    fc="none",
                    ec="#d62728",
                    lw=2.5,
                )
            )
        if i < 2:
            ax.add_patch(
                FancyArrowPatch(
                    (x + width + 0.02, 0.45),
                    (x + width + gap - 0.02, 0.45),
                    arrowstyle="-|>",
                    mutation_scale=18,
                    lw=2,
                    color="#333",
                )
            )
            ax.text(x + width + gap / 2, 0.5, "weights", ha="center", fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- next words


def next_words(
    model: nn.Module, vocab: Any, prompt: str, temperature: float = 1.0, k: int = 10
) -> dict[str, Any]:
    """The ``k`` most likely next tokens after ``prompt`` (``generate.next_word_probs``).

    Returns ``tokens`` and ``probs`` (most likely first), ``rest`` (the probability of every other
    token together) and ``prompt_tokens`` (what the model read: the prompt tokenized).
    """
    pairs = generate.next_word_probs(model, vocab, prompt, temperature=temperature, k=k)
    probs = [p for _, p in pairs]
    return dict(
        tokens=[t for t, _ in pairs],
        probs=probs,
        rest=max(0.0, 1.0 - sum(probs)),
        prompt_tokens=tokenizer.tokenize(prompt),
    )


def _draw_next_words(
    state: dict, prompt: str, temperature: float, model: nn.Module, vocab: Any, k: int
) -> Figure:
    info = next_words(model, vocab, prompt, temperature, k)
    state.update(info)
    fig = Figure(figsize=(7.5, 0.3 * k + 1.4))
    ax = fig.subplots()
    ax.barh(range(k)[::-1][: len(info["probs"])], info["probs"], color="#1f77b4")
    ax.set_yticks(range(k)[::-1][: len(info["tokens"])], info["tokens"])
    for y, p in zip(range(k)[::-1], info["probs"]):
        ax.text(p, y, f" {p:.1%}", va="center", fontsize=8)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("probability of being the next token")
    shown = " ".join(info["prompt_tokens"][-8:])
    ax.set_title(
        f"after '... {shown}'  (temperature {temperature:g}; all other tokens: {info['rest']:.1%})",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def next_word_explorer(
    model: nn.Module,
    vocab: Any,
    prompt: str = "The meaning of life is",
    temperature: float = 1.0,
    k: int = 10,
    n_words: int = 20,
    show_static: bool = True,
) -> W.VBox:
    """Explore the language model's next-token distribution (ULMFiT §3.1: the LM objective).

    Controls: ``prompt`` (a text box; redraws on Enter or when it loses focus) and ``temperature``
    (0.05-2: below 1 sharpens the distribution, above 1 flattens it). Each redraw runs the model
    once through ``generate.next_word_probs``. The "write" button samples ``n_words`` tokens at the
    current temperature with ``generate.generate`` and shows the text below.
    ``box.state``: ``tokens``, ``probs``, ``rest``, ``prompt_tokens``, ``figure`` and, after a
    click, ``text``.
    """
    controls = {
        "prompt": W.Text(
            value=prompt,
            description="prompt",
            continuous_update=False,
            layout=W.Layout(width="60%"),
        ),
        "temperature": slider(W.FloatSlider, temperature, 0.05, 2.0, 0.05, "temperature"),
    }
    written = W.HTML()
    button = W.Button(description=f"write {n_words} words", tooltip="sample a continuation")

    def draw(state: dict, prompt: str, temperature: float) -> Figure:
        return _draw_next_words(state, prompt, temperature, model, vocab, k)

    box = explorer(controls, draw, show_static, extra=[W.HBox([button]), written])

    def write(_: Any = None) -> str:
        text = generate.generate(
            model,
            vocab,
            controls["prompt"].value,
            n_words=n_words,
            temperature=controls["temperature"].value,
        )
        box.state["text"] = text
        written.value = f"<p style='font-family: serif; font-size: 1.1em'>{html.escape(text)}</p>"
        return text

    button.on_click(write)
    box.write = write
    return box


def show_generations(samples: dict[str, str]) -> str:
    """Display ``{label: text}`` as a two-column table (generated texts side by side); returns HTML."""
    rows = "".join(
        f"<tr><td style='text-align:left; white-space:nowrap'><b>{html.escape(label)}</b></td>"
        f"<td style='text-align:left; font-family: serif'>{html.escape(text)}</td></tr>"
        for label, text in samples.items()
    )
    markup = f"<table>{rows}</table>"
    display(HTML(markup))
    return markup


__all__ = [
    "STAGES",
    "draw_ulmfit_stages",
    "next_words",
    "next_word_explorer",
    "show_generations",
]
