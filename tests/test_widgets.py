"""The explorer machinery (ulmfit_lesson.course.widgets): controls wired to a drawing, redrawn when
a control changes, with the state of the last drawing kept for tests and learners."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as W  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ulmfit_lesson.course import widgets  # noqa: E402


def squares(state: dict, n: int, label: str) -> str:
    state.update(values=[i * i for i in range(n)], calls=state.get("calls", 0) + 1)
    return f"<p>{label}: {state['values']}</p>"


def test_explorer_redraws_when_a_control_changes():
    controls = {"n": widgets.slider(W.IntSlider, 3, 1, 10, 1, "n"), "label": W.Text(value="sq")}
    box = widgets.explorer(controls, squares, show_static=False)
    assert box.controls is controls
    assert box.state["values"] == [0, 1, 4] and box.state["calls"] == 1
    assert box.state["html"] == "<p>sq: [0, 1, 4]</p>"
    controls["n"].value = 5
    assert box.state["values"] == [0, 1, 4, 9, 16] and box.state["calls"] == 2
    controls["label"].value = "squares"
    assert box.state["html"].startswith("<p>squares:")
    box.redraw()
    assert box.state["calls"] == 4


def test_explorer_layout_and_figures():
    def draw(state: dict, x: float) -> Figure:
        fig = Figure()
        fig.subplots().plot([0, 1], [0, x])
        state["x"] = x
        return fig

    button = W.Button(description="extra")
    controls = {"x": widgets.slider(W.FloatSlider, 0.5, 0.0, 1.0, 0.1, "x")}
    box = widgets.explorer(controls, draw, show_static=False, extra=[button])
    row, extra, out = box.children
    assert list(row.children) == [controls["x"]] and extra is button
    assert isinstance(out, W.Output)
    assert isinstance(box.state["figure"], Figure) and box.state["x"] == 0.5


def test_static_copy_does_not_touch_the_live_state(capsys):
    controls = {"n": widgets.slider(W.IntSlider, 2, 1, 10, 1, "n"), "label": W.Text(value="a")}
    box = widgets.explorer(controls, squares, show_static=True)
    assert box.state["calls"] == 1  # the static drawing had a state of its own
    assert "HTML" in capsys.readouterr().out  # displayed (as text outside IPython)


def test_slider_reports_on_release_only():
    s = widgets.slider(W.FloatSlider, 0.3, 0.0, 1.0, 0.05, "p (full length)", readout_format=".2f")
    assert isinstance(s, W.FloatSlider)
    assert (s.value, s.min, s.max, s.step) == (0.3, 0.0, 1.0, 0.05)
    assert s.continuous_update is False and s.description == "p (full length)"
    assert s.style.description_width == "initial" and s.readout_format == ".2f"
