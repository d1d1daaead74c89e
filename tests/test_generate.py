"""Generation: seeded determinism, top-k, no xxunk, hidden state carried instead of re-feeding."""

import pytest
import torch

from ulmfit_lesson.generate import generate, next_word_probs, sample_ids
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.tokenizer import SPECIAL_TOKENS, tokenize

WORDS = "the king queen said and to a of in his her crown . , ! ? was is rose fell".split()
ITOS = SPECIAL_TOKENS + WORDS


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_language_model(len(ITOS), emb_size=16, hidden_size=32, n_layers=2).eval()


def test_seed_makes_generation_deterministic(model):
    a = generate(model, ITOS, "The king said", n_words=25, seed=1)
    b = generate(model, ITOS, "The king said", n_words=25, seed=1)
    c = generate(model, ITOS, "The king said", n_words=25, seed=2)
    assert a == b != c
    assert a.startswith("The king said")


def test_carrying_the_hidden_state_equals_re_feeding_the_text(model):
    """Greedy decoding one token at a time with the hidden state == re-running the whole text."""
    ids = [ITOS.index(t) for t in tokenize("The queen")]
    fast = sample_ids(model, ids, 12, temperature=0)
    slow = list(ids)
    with torch.no_grad():
        for _ in range(12):
            slow.append(int(model(torch.tensor([slow])).logits[0, -1].argmax()))
    assert fast == slow[len(ids) :]


def test_top_k_is_respected(model):
    ids = [ITOS.index(t) for t in tokenize("The king")]
    g = torch.Generator().manual_seed(0)
    new = sample_ids(model, ids, 30, temperature=1.5, top_k=3, banned=[1], generator=g)
    seq = list(ids)
    with torch.no_grad():
        for token in new:
            logits = model(torch.tensor([seq])).logits[0, -1]
            logits[1] = -float("inf")  # xxpad is never sampled
            assert token in torch.topk(logits, 3).indices.tolist()
            seq.append(token)
    assert len(set(new)) > 1  # really sampled, not greedy
    assert sample_ids(model, ids, 10, top_k=1, generator=g) == sample_ids(model, ids, 10, 0)


def test_no_unk_never_produces_xxunk(model):
    with torch.no_grad():
        model.decoder.decoder.bias[0] = 20.0  # make xxunk by far the most likely token
    ids = [ITOS.index(t) for t in tokenize("The king")]
    g = torch.Generator().manual_seed(0)
    assert sample_ids(model, ids, 20, generator=g).count(0) > 15  # without the ban: mostly xxunk
    text = generate(model, ITOS, "The king", n_words=40, no_unk=True, seed=0)
    assert "xxunk" not in text and "xxpad" not in text


def test_next_word_probs_are_the_models_softmax(model):
    pairs = next_word_probs(model, ITOS, "The king said", k=5)
    ids = [ITOS.index(t) for t in tokenize("The king said")]
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1], -1)
    top = torch.topk(probs, 5)
    assert [w for w, _ in pairs] == [ITOS[i] for i in top.indices]
    assert [p for _, p in pairs] == pytest.approx(top.values.tolist(), rel=1e-6)
    cold = next_word_probs(model, ITOS, "The king said", temperature=0.1, k=2)
    assert cold[0][1] > pairs[0][1]  # a lower temperature sharpens


def test_bad_arguments():
    m = build_language_model(len(ITOS), emb_size=8, hidden_size=8, n_layers=1)
    with pytest.raises(ValueError, match="temperature"):
        generate(m, ITOS, "the", temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        generate(m, ITOS, "the", top_k=0)


def test_a_marker_left_at_the_end_is_dropped():
    from ulmfit_lesson.generate import _drop_dangling_markers

    assert _drop_dangling_markers(["xxbos", "the", "king", "xxmaj"]) == ["xxbos", "the", "king"]
    assert _drop_dangling_markers(["a", "xxrep", "4"]) == ["a"]
    assert _drop_dangling_markers(["a", "xxup", "b"]) == ["a", "xxup", "b"]
