"""The machinery every interactive figure of the course shares: controls wired to a drawing.

An explorer is a few controls (sliders, a text box, a dropdown) and a ``draw(state, **values)``
function that calls package code and returns a matplotlib ``Figure`` or an HTML string. The widget
only moves numbers around; the logic stays in the package, testable without widgets (the
"separate concerns" habit of the jupyter-widgets tutorial). ``widgets_basics`` (notebooks 01-03),
``widgets_lm`` (00, 04, 05) and ``widgets_clas`` (06-09) build their explorers with these two:

- ``explorer(controls, draw, show_static)``: the box; redraws when a control changes.
- ``slider(kind, value, lo, hi, step, description)``: a slider that redraws only on release.

Conventions of every explorer: with ``show_static=True`` it first displays the default state as an
ordinary (static) figure or HTML, so a notebook executed headless (nbconvert, nbval, a web viewer)
still shows a picture; the live widget follows. The returned box carries ``box.controls`` (name ->
control widget), ``box.state`` (the data of the last drawing, and its ``figure`` or ``html``) and
``box.redraw()``, for tests and curious learners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
from IPython.display import HTML, display
from matplotlib.figure import Figure


def explorer(
    controls: dict[str, W.ValueWidget],
    draw: Callable[..., Any],
    show_static: bool,
    extra: list[W.Widget] | None = None,
) -> W.VBox:
    """Wire ``controls`` to ``draw(state, **values)`` (which returns a Figure or an HTML string).

    The result is shown in an ``Output`` below the controls (and below ``extra`` widgets, e.g. a
    button), and again statically (once, before the widget) when ``show_static``. ``draw`` fills
    ``state`` with the data it drew; the figure or HTML is added as ``state["figure"]`` /
    ``state["html"]``. Returns the box with ``controls``, ``state`` and ``redraw``.
    """
    out = W.Output()
    state: dict[str, Any] = {}

    def render(result: Any) -> None:
        display(HTML(result) if isinstance(result, str) else result)

    def redraw(change: Any = None) -> None:
        result = draw(state, **{name: c.value for name, c in controls.items()})
        state["figure" if isinstance(result, Figure) else "html"] = result
        with out:
            out.clear_output(wait=True)
            render(result)

    for control in controls.values():
        control.observe(redraw, names="value")
    if show_static:
        # A throwaway state: the static picture must not leave data the live widget did not draw.
        render(draw({}, **{name: c.value for name, c in controls.items()}))
    redraw()
    box = W.VBox([W.HBox(list(controls.values())), *(extra or []), out])
    box.controls, box.state, box.redraw = controls, state, redraw
    return box


def slider(
    kind: type, value: float, lo: float, hi: float, step: float, description: str, **kw: Any
) -> W.ValueWidget:
    """A ``kind`` slider (``W.IntSlider``, ``W.FloatSlider``) from ``lo`` to ``hi``.

    ``continuous_update=False``: it reports its value when released, because drawing a figure per
    tick of a drag would lag. The description is shown in full (not cut to the default width).
    """
    return kind(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
        **kw,
    )


__all__ = ["explorer", "slider"]
