"""Stage-2 recipe (``lm_recipes.finetune_lm``): the backwards switch feeds documents reversed."""

import pytest
import torch

from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.lm_recipes import finetune_lm, finetune_vocab, numericalize
from ulmfit_lesson.pretrained import match_embeddings
from ulmfit_lesson.tokenizer import tokenize_texts
from ulmfit_lesson.train import evaluate_lm, fit_lm
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


def test_without_epoch_validation_the_same_weights_come_out_with_two_evaluations(monkeypatch):
    """``validate_epochs=False``: only "before" and "after" read the validation texts (2 passes,
    not 1 + one per epoch), the histories have no validation columns, and the weights and both
    scores are those of the run that validated every epoch (evaluation draws no random numbers)."""
    from ulmfit_lesson import lm_recipes

    itos = Vocab.build(tokenize_texts(TEXTS), min_freq=1).itos
    options = dict(frozen_epochs=1, epochs=2, bs=2, bptt=5, min_freq=1, progress=False)
    results, calls = {}, []
    monkeypatch.setattr(
        lm_recipes, "evaluate_lm", lambda *a, **k: calls.append(1) or evaluate_lm(*a, **k)
    )
    for each_epoch in (True, False):
        torch.manual_seed(0)
        lm = build_language_model(len(itos), emb_size=16, hidden_size=24)
        calls.clear()
        results[each_epoch] = finetune_lm(
            (lm, itos), TEXTS, TEXTS[:4], validate_epochs=each_epoch, **options
        )
        epochs = [e for h in results[each_epoch].histories for e in h.epochs]
        assert len(epochs) == 3
        assert all(("valid_loss" in e) is each_epoch for e in epochs)
        assert len(calls) == (1 if each_epoch else 2)  # "before"; without epochs also "after"
    every, ends = results[True], results[False]
    for (name, a), b in zip(every.model.state_dict().items(), ends.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert (ends.before.loss, ends.after.loss) == (every.before.loss, every.after.loss)
    assert ends.settings["validate_epochs"] is False


def test_default_epochs_follow_the_corpus_size_and_are_recorded(monkeypatch):
    """``epochs=None`` (the default): ``schedules.finetune_epochs`` of the training tokens, as
    many unfrozen epochs trained and the number in the settings (metrics.json). The budget is
    shrunk so that this 12-verse corpus gets 2 epochs, not the 4 a small corpus gets."""
    from ulmfit_lesson import schedules

    tokens = sum(map(len, tokenize_texts(TEXTS)))
    seen = []
    real = schedules.finetune_epochs
    monkeypatch.setattr(schedules, "FINETUNE_TOKENS", 2 * tokens)
    monkeypatch.setattr(
        "ulmfit_lesson.lm_recipes.finetune_epochs", lambda n: seen.append(n) or real(n)
    )
    itos = Vocab.build(tokenize_texts(TEXTS), min_freq=1).itos
    torch.manual_seed(0)
    lm = build_language_model(len(itos), emb_size=16, hidden_size=24)
    options = dict(frozen_epochs=1, bs=2, bptt=5, min_freq=1, progress=False)
    result = finetune_lm((lm, itos), TEXTS, None, **options)
    assert seen == [tokens]
    assert [len(h.epochs) for h in result.histories] == [1, 2]
    assert result.settings["epochs"] == 2
    explicit = finetune_lm((lm, itos), TEXTS, None, epochs=1, **options)
    assert [len(h.epochs) for h in explicit.histories] == [1, 1] and seen == [tokens]


def test_finetuning_scores_only_the_words_of_the_target_texts_when_asked(monkeypatch):
    """``corpus_softmax=True``: stage 2's softmax covers the target texts' words
    (``LMLoader.words``), in both stages; by default every word (the LM itself is the point)."""
    from ulmfit_lesson import lm_recipes

    itos = Vocab.build(tokenize_texts(TEXTS + ["words the target never uses"]), min_freq=1).itos
    seen = []
    monkeypatch.setattr(
        lm_recipes, "fit_lm", lambda *a, **k: seen.append(k["softmax_words"]) or fit_lm(*a, **k)
    )
    options = dict(frozen_epochs=1, epochs=1, bs=2, bptt=5, min_freq=1, progress=False)
    results = {}
    for corpus in (True, False):
        torch.manual_seed(0)
        lm = build_language_model(len(itos), emb_size=16, hidden_size=24)
        results[corpus] = finetune_lm((lm, itos), TEXTS, None, corpus_softmax=corpus, **options)
    ids = numericalize(tokenize_texts(TEXTS), results[True].vocab)
    expected = sorted({int(i) for doc in ids for i in doc})
    assert len(seen) == 4 and all(words.tolist() == expected for words in seen[:2])
    assert seen[2:] == [None, None]
    assert results[True].settings["softmax_words"] == len(expected) < len(itos)
    assert results[False].settings["softmax_words"] == len(itos)


def test_the_pipeline_fine_tunes_with_the_corpus_softmax(monkeypatch):
    """The LM is only the classifier's encoder there: the faster softmax (lm_options can undo)
    and no validation after every epoch."""
    import pandas as pd

    from ulmfit_lesson import lm_recipes, pipeline

    seen = []

    def fake_finetune_lm(pretrained, texts, valid=None, **kwargs):
        seen.append(kwargs.get("corpus_softmax"))
        assert kwargs["validate_epochs"] is False  # before and after only: the same weights
        raise SystemExit(0)

    monkeypatch.setattr(lm_recipes, "finetune_lm", fake_finetune_lm)
    df = pd.DataFrame({"text": TEXTS[:4], "label": ["a", "b", "a", "b"]})
    for lm_options, expected in ((None, True), ({"corpus_softmax": False}, False)):
        with pytest.raises(SystemExit):
            pipeline.ulmfit_pipeline(df, pretrained=("model", ["itos"]), lm_options=lm_options)
        assert seen[-1] is expected
