"""The ULMFiT classifier: concat pooling, BPT3C chunking and gradients, head, groups, building."""

import pytest
import torch

from ulmfit_lesson.checkpoint import save_checkpoint
from ulmfit_lesson.clas_loader import ClasLoader, pad_chunks
from ulmfit_lesson.classifier import (
    ULMFiTClassifier,
    bpt3c_encode,
    build_classifier,
    concat_pool,
)
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.predict import predict_logits

VOCAB = 60
SIZES = dict(emb_size=16, hidden_size=32)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (tests/conftest.py)


def tiny_lm(seed=0, vocab=VOCAB, **kw):
    torch.manual_seed(seed)
    return build_language_model(vocab, **(SIZES | kw))


def tiny_clf(n_classes=3, bptt=5, max_len=None, seed=0):
    return build_classifier(tiny_lm(seed), n_classes, bptt=bptt, max_len=max_len)


# ----------------------------------------------------------------------------- concat pooling


def test_concat_pool_hand_computed_with_padding():
    # Row 0: real tokens at 0, 1 (end padding at 2); row 1: front padding at 0, real at 1, 2.
    output = torch.tensor(
        [
            [[1.0, -2.0], [3.0, 0.0], [100.0, 100.0]],
            [[-100.0, 50.0], [-1.0, -4.0], [-3.0, 2.0]],
        ]
    )  # (bs=2, seq_len=3, n=2)
    mask = torch.tensor([[True, True, False], [False, True, True]])
    pooled = concat_pool(output, mask)
    expected = torch.tensor(
        [
            # h_T (true last token)  max over real       mean over real
            [3.0, 0.0, 3.0, 0.0, 2.0, -1.0],
            [-3.0, 2.0, -1.0, 2.0, -2.0, -1.0],
        ]
    )
    torch.testing.assert_close(pooled, expected)


def test_concat_pool_ignores_what_padding_holds():
    torch.manual_seed(1)
    output = torch.randn(3, 7, 4)
    mask = torch.zeros(3, 7, dtype=torch.bool)
    mask[0, :7] = True
    mask[1, 2:5] = True
    mask[2, 5:6] = True
    garbage = output.clone()
    garbage[~mask] = 1e6
    torch.testing.assert_close(concat_pool(output, mask), concat_pool(garbage, mask))
    # a one-token document: all three parts equal that token's output
    torch.testing.assert_close(concat_pool(output, mask)[2], output[2, 5].repeat(3))


# ----------------------------------------------------------------------------- BPT3C


def test_chunked_reading_equals_reading_in_one_go():
    clf = tiny_clf(bptt=5, max_len=40).eval()
    doc = torch.randint(2, VOCAB, (23,))
    x, mask = pad_chunks([doc], bptt=5)  # width 23: chunks of 5, 5, 5, 5, 3
    chunked, kept = bpt3c_encode(clf.encoder, x, mask, bptt=5, max_len=40)
    with torch.no_grad():
        one_go, _ = clf.encoder(doc[None])  # (1, 23, 16)
    assert kept.shape == (1, 23) and bool(kept.all())
    torch.testing.assert_close(chunked[kept], one_go[0], atol=1e-6, rtol=1e-5)


def test_padded_rows_start_fresh_on_their_first_chunk():
    clf = tiny_clf(bptt=5, max_len=100).eval()
    docs = [torch.randint(2, VOCAB, (n,)) for n in (17, 6, 1, 10)]
    x, mask = pad_chunks(docs, bptt=5)
    batched, kept = bpt3c_encode(clf.encoder, x, mask, bptt=5, max_len=100)
    for row, doc in enumerate(docs):
        with torch.no_grad():
            alone, _ = clf.encoder(doc[None])
        torch.testing.assert_close(batched[row][kept[row]], alone[0], atol=1e-6, rtol=1e-5)


def test_documents_must_start_on_a_chunk_boundary():
    clf = tiny_clf(bptt=5).eval()
    x = torch.randint(2, VOCAB, (2, 10))
    x[1, :3] = 1  # 3 pads in front: the document starts mid-chunk (fastai issue #3379)
    with pytest.raises(ValueError, match="row 1 .*multiple of bptt=5"):
        clf(x)
    x[1, :3] = x[0, :3]
    x[1, 4] = 1  # padding inside a document
    with pytest.raises(ValueError, match="row 1 .*padding inside"):
        clf(x)


def test_a_document_ending_before_the_kept_chunks_is_an_error():
    clf = tiny_clf(bptt=5, max_len=10).eval()
    x = torch.randint(2, VOCAB, (2, 20))
    x[1, 8:] = 1  # right padding: row 1 ends at 8, the kept window is positions 10..19
    with pytest.raises(ValueError, match="row 1 .*ends at position 8"):
        clf(x)
    assert clf(x[:, :10]).logits.shape == (2, 3)  # fits in max_len: right padding is fine


def test_gradient_reaches_only_the_last_max_len_tokens():
    # bptt 5, a 30-token document: ids 10..29 only in the first 20 tokens, ids 40..49 in the last 10.
    early, late = torch.arange(10, 30), torch.arange(40, 50)
    doc = torch.cat([early, late])

    def embedding_grad(max_len):
        clf = tiny_clf(bptt=5, max_len=max_len).eval()  # eval: no dropout, BatchNorm on 1 row
        clf(doc[None]).logits.sum().backward()
        return clf.encoder.encoder.weight.grad.abs().sum(1)  # (vocab,)

    grad = embedding_grad(max_len=10)
    assert torch.all(grad[early] == 0), "tokens before the last max_len got gradient"
    assert torch.all(grad[late] > 0)
    assert torch.all(embedding_grad(max_len=30)[early] > 0)  # control: with max_len 30 they do


def count_graph_nodes(tensor):
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return len(seen)


def test_graph_does_not_grow_with_the_document():
    clf = tiny_clf(bptt=10, max_len=20).train()
    sizes = []
    for n in (40, 400):
        docs = [torch.randint(2, VOCAB, (n,)), torch.randint(2, VOCAB, (n - 7,))]
        x, mask = pad_chunks(docs, bptt=10)
        out = clf(x, mask)
        assert out.raw_output.shape == (2, 20, 16)  # only the 2 kept chunks
        sizes.append(count_graph_nodes(out.logits))
    assert sizes[0] == sizes[1]


@pytest.mark.slow
def test_a_200000_token_document_runs_in_bounded_memory():
    # long chunks keep the Python overhead small; the LSTM still steps through 200,000 tokens
    clf = tiny_clf(bptt=1000, max_len=2000).train()
    docs = [torch.randint(2, VOCAB, (200_000,)), torch.randint(2, VOCAB, (150,))]
    x, mask = pad_chunks(docs, bptt=1000)
    out = clf(x, mask)
    assert out.raw_output.shape == (2, 2000, 16)
    out.logits.sum().backward()
    assert count_graph_nodes(out.logits) < 400


# ----------------------------------------------------------------------------- head, groups, output


def test_head_layout_and_dropouts():
    clf = tiny_clf(n_classes=4)
    blocks = list(clf.head.layers)
    assert [type(m).__name__ for m in blocks[0]] == ["BatchNorm1d", "Dropout", "Linear", "ReLU"]
    assert [type(m).__name__ for m in blocks[1]] == ["BatchNorm1d", "Dropout", "Linear"]
    assert blocks[0][2].in_features == 3 * 16 and blocks[0][2].out_features == 50
    assert blocks[1][2].out_features == 4
    # ULMFiT §4.1 classifier dropouts, unscaled by default; the last head dropout is fixed at 0.1
    assert blocks[0][1].p == pytest.approx(0.4) and blocks[1][1].p == pytest.approx(0.1)
    c = clf.config
    assert (c.input_p, c.hidden_p, c.weight_p, c.embed_p) == pytest.approx((0.4, 0.3, 0.5, 0.05))
    # fastai's text_classifier_learner halves them all except the last head dropout
    half = build_classifier(tiny_lm(0), 4, bptt=5, drop_mult=0.5)
    assert list(half.head.layers)[0][1].p == pytest.approx(0.2)
    assert list(half.head.layers)[1][1].p == pytest.approx(0.1)
    assert half.config.weight_p == pytest.approx(0.25)


def test_groups_follow_awd_lstm_clas_split():
    clf = tiny_clf()
    groups = clf.groups
    assert len(groups) == 5
    assert groups[0] == [clf.encoder.encoder, clf.encoder.encoder_dp]
    assert groups[1][0] is clf.encoder.rnns[0] and groups[3][0] is clf.encoder.rnns[2]
    assert groups[4] == [clf.head]
    n_params = sum(p.numel() for g in groups for m in g for p in m.parameters())
    # the embedding appears twice in group 0 (encoder and encoder_dp.emb): subtract one copy
    assert n_params - clf.encoder.encoder.weight.numel() == sum(p.numel() for p in clf.parameters())


def test_output_fields_for_ar_tar():
    clf = tiny_clf(bptt=5, max_len=10).train()
    x, mask = pad_chunks([torch.randint(2, VOCAB, (n,)) for n in (12, 3)], bptt=5)
    out = clf(x, mask)
    assert out.logits.shape == (2, 3)
    # width 5 + 5 + 3 = 13; max_len 10 keeps 2 chunks: positions 5..12 (the last one is short)
    assert out.raw_output.shape == (2, 8, 16) and out.mask.shape == (2, 8)
    assert out.dropped_output is out.raw_output
    assert out.mask.sum(1).tolist() == [7, 3]  # 12 tokens: only the last 7 are kept


def test_predict_logits_in_input_order_and_alone_equals_batch():
    clf = tiny_clf(bptt=5).eval()
    torch.manual_seed(3)
    docs = [torch.randint(2, VOCAB, (n,)) for n in (3, 21, 8, 1, 14, 8, 30)]
    loader = ClasLoader(docs, bs=3, bptt=5)
    batched = predict_logits(clf, loader)
    with torch.no_grad():
        alone = torch.cat([clf(d[None]).logits for d in docs])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- building


def test_build_classifier_copies_the_encoder():
    lm = tiny_lm()
    clf = build_classifier(lm, 2)
    for key, value in lm.encoder.state_dict().items():
        assert torch.equal(clf.encoder.state_dict()[key], value), key
    assert clf.encoder.encoder.weight.data_ptr() != lm.encoder.encoder.weight.data_ptr()  # a copy
    assert isinstance(clf, ULMFiTClassifier) and clf.n_classes == 2


def test_build_classifier_from_checkpoint_and_state_dict(tmp_path):
    lm = tiny_lm(seed=4)
    itos = [f"w{i}" for i in range(VOCAB)]
    path = save_checkpoint(tmp_path / "lm.pt", lm, itos)
    for source in (path, str(path), lm.state_dict(), lm.encoder.state_dict()):
        clf = build_classifier(source, 3, vocab=itos)
        torch.testing.assert_close(clf.encoder.encoder.weight, lm.encoder.encoder.weight)
        torch.testing.assert_close(
            clf.encoder.rnns[2].weight_hh_l0_raw, lm.encoder.rnns[2].weight_hh_l0_raw
        )


def test_build_classifier_mismatches_are_clear_errors():
    lm = tiny_lm()
    with pytest.raises(ValueError, match=f"{VOCAB} tokens.*vocabulary has 75"):
        build_classifier(lm, 2, vocab=list(range(75)))
    with pytest.raises(ValueError, match="emb_size=16, asked 400"):
        build_classifier(lm, 2, emb_size=400)
    # a state dict with a wrong shape (hidden 24 instead of 32 in layer 1)
    bad = tiny_lm(hidden_size=24).encoder.state_dict()
    good = lm.encoder.state_dict()
    good["rnns.1.weight_hh_l0_raw"] = bad["rnns.1.weight_hh_l0_raw"]
    with pytest.raises(
        ValueError, match=r"rnns.1.weight_hh_l0_raw: found \(96, 24\), expected \(128, 32\)"
    ):
        build_classifier(good, 2)


def test_hparams_round_trip():
    clf = tiny_clf(n_classes=5, bptt=7, max_len=21)
    clone = ULMFiTClassifier.from_hparams(clf.hparams())
    clone.load_state_dict(clf.state_dict())
    assert clone.hparams() == clf.hparams()
