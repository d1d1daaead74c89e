"""The classifier notebooks' pictures and widgets: each builds headless, and moving a control
redraws with the package's numbers (trainable groups, probabilities, contributions)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ulmfit_lesson import clas_loader, clas_recipes, classifier, schedules  # noqa: E402
from ulmfit_lesson.course import widgets_clas  # noqa: E402
from ulmfit_lesson.language_model import build_language_model  # noqa: E402
from ulmfit_lesson.predict import TextClassifier  # noqa: E402
from ulmfit_lesson.tokenizer import tokenize_texts  # noqa: E402
from ulmfit_lesson.vocab import Vocab  # noqa: E402

TEXTS = ["the sun is warm", "a cold dark night of sorrow", "o joy", "grief and tears and death"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def tiny_classifier(multi_label=False) -> TextClassifier:
    vocab = Vocab.build(tokenize_texts(TEXTS), min_freq=1)
    torch.manual_seed(0)
    lm = build_language_model(len(vocab), emb_size=8, hidden_size=16, n_layers=3)
    model = classifier.build_classifier(lm, 2, vocab, bptt=4)
    return TextClassifier(model, vocab, ["negative", "positive"], multi_label=multi_label)


def test_classifier_box_redraws_for_a_new_text():
    clf = tiny_classifier()
    box = widgets_clas.classifier_box(clf, text="the sun is warm", show_static=False)
    first = dict(box.state)
    assert first["tokens"] == ["xxbos", "the", "sun", "is", "warm"]
    assert len(first["scores"]) == len(first["tokens"])
    assert sum(first["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    assert first["probs"] == pytest.approx(dict(clf.predict("the sun is warm")[0][1]), abs=1e-5)

    box.controls["text"].value = "a cold dark night of sorrow"
    assert box.state["tokens"][1:] == ["a", "cold", "dark", "night", "of", "sorrow"]
    assert box.state["probs"] != first["probs"]
    assert "sorrow" in box.state["html"]

    box.controls["text"].value = "   "  # nothing to classify: no error, a prompt instead
    assert box.state["tokens"] == [] and "type a text" in box.state["html"]


def test_classifier_box_multi_label_shows_the_labels_over_threshold():
    clf = tiny_classifier(multi_label=True)
    clf.thresholds = [0.0, 1.01]  # first label always on, second never
    box = widgets_clas.classifier_box(clf, text="o joy", show_static=False)
    assert box.state["labels"] == ["negative"]
    assert "predicted labels" in box.state["html"]


def test_unfreezing_stepper_follows_the_recipe_and_the_model():
    clf = tiny_classifier()
    box = widgets_clas.unfreezing_stepper(clf.model, epochs=6, show_static=False)
    assert box.state["trainable"] == [False, False, False, False, True]  # epoch 1: the head alone
    head_only = box.state["n_trainable"]
    assert head_only == sum(p.numel() for p in clf.model.head.parameters())
    box.controls["epoch"].value = 3
    assert box.state["freeze_to"] == -3
    assert box.state["trainable"] == [False, False, True, True, True]
    assert box.state["n_trainable"] > head_only
    box.controls["epoch"].value = 6
    assert box.state["trainable"] == [True] * 5
    # the model is left fully trainable whatever was drawn
    assert all(schedules.trainable_groups(clf.model.groups))
    lrs = box.state["peak_lrs"]
    assert lrs[-1] == pytest.approx(clas_recipes.CLAS_LR)
    assert lrs[-2] == pytest.approx(lrs[-1] / 2.6)


def test_unfreezing_schedule_matches_plan_stages():
    info = widgets_clas.unfreezing_schedule(5, 6, lr=0.01, steps_per_epoch=4)
    assert [tuple(s) for s in info["plan"]] == [(-1, 1), (-2, 1), (-3, 1), (-4, 1), (0, 2)]
    assert info["lrs"].shape == (24, 5)
    assert (info["lrs"][:4, :4] == 0).all() and (info["lrs"][:4, 4] > 0).all()
    # a fresh STLR per stage: the last stage (2 epochs, 8 steps) starts at lr / ratio
    assert info["lrs"][16, 4] == pytest.approx(0.01 / schedules.STLR_RATIO)
    flat = widgets_clas.unfreezing_schedule(5, 3, discriminative=False, schedule="constant")
    assert np.allclose(flat["lrs"][flat["lrs"] > 0], clas_recipes.CLAS_LR)


def test_drawings_build_and_mark_the_true_last_token():
    docs = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]]
    x, mask = clas_loader.pad_chunks(docs, bptt=4)
    fig = widgets_clas.draw_padded_batch(x, mask, bptt=4)
    stars = [line for line in fig.axes[0].lines if line.get_marker() == "*"]
    assert [int(s.get_xdata()[0] - 0.5) for s in stars] == classifier.last_positions(mask).tolist()

    output = torch.randn(3, x.size(1), 5)
    fig = widgets_clas.draw_concat_pool(output, mask, row=1)
    image = fig.axes[1].images[0].get_array()
    pooled = classifier.concat_pool(output, mask)[1].reshape(3, 5).T
    assert np.allclose(image, pooled.numpy())

    fig = widgets_clas.plot_confusion([[5, 1], [2, 7]], ["neg", "pos"])
    assert fig.axes[0].images[0].get_array()[0, 0] == pytest.approx(5 / 6)
    fig = widgets_clas.plot_class_f1(
        ["a", "b", "c"], [0.5, float("nan"), 0.9], [3, 0, 9], compare=[0.4, 0, 0.8]
    )
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == "c (9)" and labels[0] == "b (0)"  # best at the top, n/a at the bottom


def test_contributions_html_colours_by_sign():
    colours = widgets_clas.contribution_colours([-1.0, 0.0, 1.0])
    assert colours[1] == "#ffffff"
    red, green = colours[0], colours[2]
    assert int(red[1:3], 16) > int(red[3:5], 16) and int(green[3:5], 16) > int(green[1:3], 16)
    markup = widgets_clas.probs_html({"a": 0.25, "b": 0.75}, "b")
    assert markup.index(">b<") < markup.index(">a<")  # highest first


def test_plot_history_marks_the_stages():
    history = [
        dict(epoch=e, stage=s, trainable_groups=g, train_loss=1.0 - e / 10, valid_loss=0.9,
             accuracy=0.5 + e / 20, macro_f1=0.5)
        for e, (s, g) in enumerate([(0, 1), (1, 2), (2, 5), (2, 5)])
    ]  # fmt: skip
    fig = widgets_clas.plot_history(history)
    loss_ax, metric_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [1.0, 0.9, 0.8, 0.7]
    assert list(metric_ax.lines[0].get_ydata()) == [0.5, 0.55, 0.6, 0.65]
    assert [t.get_text() for t in loss_ax.get_xticklabels()] == [
        "1\n1 gr.",
        "2\n2 gr.",
        "3\n5 gr.",
        "4\n5 gr.",
    ]
