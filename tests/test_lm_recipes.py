"""Stage-2 recipe (``lm_recipes.finetune_lm``): the backwards switch feeds documents reversed."""

import pytest
import torch

from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.lm_recipes import finetune_lm, finetune_vocab, numericalize
from ulmfit_lesson.pretrained import match_embeddings
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.train import evaluate_lm
from ulmfit_lesson.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)

TEXTS = [
    "the river runs to the sea",
    "o winter wind , thou art not so unkind",
    "the light upon the shore is gold",
    "and all the stars are singing now",
] * 3


def test_backwards_finetuning_reads_each_document_reversed():
    """With no training epochs, the 'before' loss of ``backwards=True`` is the model's loss on the
    valid documents reversed one by one (xxbos last) — and not the forward loss."""
    itos = Vocab.build(tokenize_texts(TEXTS), min_freq=1).itos
    torch.manual_seed(0)
    lm = build_language_model(len(itos), emb_size=16, hidden_size=24).eval()
    valid = TEXTS[:4]
    options = dict(
        frozen_epochs=0, epochs=0, bs=2, bptt=5, min_freq=1, device="cpu", progress=False
    )
    fwd = finetune_lm((lm, itos), TEXTS, valid, **options)
    bwd = finetune_lm((lm, itos), TEXTS, valid, backwards=True, **options)

    vocab = finetune_vocab(itos, tokenize_texts(TEXTS), 1)
    model = match_embeddings(lm, itos, vocab.itos)
    ids = numericalize(tokenize_texts(valid), vocab)
    loader = LMLoader(
        [d.flip(0) for d in ids], 2, 5, shuffle=False, variable_bptt=False, backwards=False
    )
    expected = evaluate_lm(model, loader, device="cpu")
    assert bwd.before.loss == pytest.approx(expected.loss, rel=1e-6)
    assert abs(bwd.before.loss - fwd.before.loss) > 1e-4
    assert bwd.settings["backwards"] is True


def test_the_cli_passes_backwards_through(tmp_path, monkeypatch):
    from ulmfit_lesson import cli, lm_recipes

    seen = {}

    def fake_finetune_lm(pretrained, texts, valid, **kwargs):
        seen.update(kwargs, texts=texts)
        raise SystemExit(0)

    monkeypatch.setattr(lm_recipes, "finetune_lm", fake_finetune_lm)
    (tmp_path / "t.txt").write_text("one verse\nanother verse\n", encoding="utf-8")
    base = [
        "finetune-lm",
        "--pretrained",
        "general-bwd",
        "--train",
        str(tmp_path / "t.txt"),
        "--out",
        str(tmp_path / "out"),
    ]
    for extra, expected in (([], False), (["--backwards"], True)):
        with pytest.raises(SystemExit):
            cli.main(base + extra)
        assert seen["backwards"] is expected and seen["texts"] == ["one verse", "another verse"]


def test_after_reuses_the_last_epochs_evaluation_of_the_same_weights(monkeypatch):
    """``result.after`` is the last epoch's validation (no step came after it), not a second pass
    over the validation set; and it equals what a fresh evaluation of the final weights gives."""
    from ulmfit_lesson import lm_recipes

    itos = Vocab.build(tokenize_texts(TEXTS), min_freq=1).itos
    torch.manual_seed(0)
    lm = build_language_model(len(itos), emb_size=16, hidden_size=24)
    calls = []
    monkeypatch.setattr(
        lm_recipes, "evaluate_lm", lambda *a, **k: calls.append(1) or evaluate_lm(*a, **k)
    )
    options = dict(bs=2, bptt=5, min_freq=1, device="cpu", progress=False)
    result = finetune_lm((lm, itos), TEXTS, TEXTS[:4], frozen_epochs=1, epochs=1, **options)
    assert len(calls) == 1  # "before" only: the epochs evaluate through the recorder
    last = result.histories[-1].epochs[-1]
    assert result.after.loss == last["valid_loss"]
    ids = numericalize(tokenize_texts(TEXTS[:4]), result.vocab)
    loader = LMLoader(ids, 2, 5, shuffle=False, variable_bptt=False)
    assert evaluate_lm(result.model, loader, device="cpu").loss == pytest.approx(
        result.after.loss, rel=1e-6
    )
    assert result.after.loss < result.before.loss  # it trained
