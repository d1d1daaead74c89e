"""The pictures and explorers of notebooks 00, 04 and 05 build headless and show the package's
numbers: the stage diagram, the next-token distribution at a temperature, a written continuation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from ulmfit_lesson import generate, language_model, tokenizer  # noqa: E402
from ulmfit_lesson.course import widgets_lm  # noqa: E402
from ulmfit_lesson.vocab import Vocab  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    vocab = Vocab(tokenizer.SPECIAL_TOKENS + ["the", "sea", "is", "calm", "wild", ".", "and"])
    torch.manual_seed(0)
    model = language_model.build_language_model(
        len(vocab.itos), emb_size=8, hidden_size=16, n_layers=2
    )
    return model.eval(), vocab


@pytest.mark.parametrize("highlight", [None, 1, 2, 3])
def test_stage_diagram_draws_three_stages(highlight):
    fig = widgets_lm.draw_ulmfit_stages(highlight)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for title, *_ in widgets_lm.STAGES:
        assert title in texts
    assert sum("LSTM 2" in t for t in texts) == 3  # the same encoder in every stage


def test_stage_diagram_rejects_unknown_stage():
    with pytest.raises(ValueError, match="highlight"):
        widgets_lm.draw_ulmfit_stages(4)


def test_next_words_match_generate(tiny):
    model, vocab = tiny
    info = widgets_lm.next_words(model, vocab, "the sea is", temperature=1.0, k=5)
    want = generate.next_word_probs(model, vocab, "the sea is", temperature=1.0, k=5)
    assert info["tokens"] == [t for t, _ in want]
    assert info["probs"] == pytest.approx([p for _, p in want])
    assert info["rest"] == pytest.approx(1 - sum(info["probs"]), abs=1e-6)
    assert info["prompt_tokens"] == ["xxbos", "the", "sea", "is"]


def test_explorer_temperature_sharpens_and_button_writes(tiny):
    model, vocab = tiny
    box = widgets_lm.next_word_explorer(model, vocab, prompt="the sea", k=5, show_static=False)
    assert set(box.controls) == {"prompt", "temperature"}
    top_at_1 = box.state["probs"][0]
    box.controls["temperature"].value = 0.1
    assert box.state["probs"][0] > top_at_1  # a low temperature sharpens the distribution
    box.controls["temperature"].value = 2.0
    assert box.state["probs"][0] < top_at_1
    assert box.state["figure"].axes
    box.controls["prompt"].value = "calm and"
    assert box.state["prompt_tokens"] == ["xxbos", "calm", "and"]
    text = box.write()
    assert text.startswith("calm and") and box.state["text"] == text


def test_show_generations_escapes_html():
    markup = widgets_lm.show_generations({"a <b>": "x < y"})
    assert "a &lt;b&gt;" in markup and "x &lt; y" in markup
