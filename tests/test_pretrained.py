"""pretrained.py: fastai model-zoo archives, the restricted vocabulary unpickler, vocabulary transfer.

The parity test compares our ``LanguageModel`` loaded with ``load_fastai_lm`` against fastai 2.8.12
itself, through the fixture ``tests/golden/lm_parity.pt`` made by ``tools/make_golden_model.py``.
"""

import os
import pickle
import tarfile

import pytest
import torch

from ulmfit_lesson.config import REPO_ROOT
from ulmfit_lesson.language_model import LanguageModel, build_language_model
from ulmfit_lesson.pretrained import (
    fastai_to_ours,
    load_fastai_lm,
    read_itos,
    save_fastai_lm,
)

SHARED = REPO_ROOT.parent / "shared"
ARCHIVE = SHARED / "pretrained" / "general-fwd.tgz"
GOLDEN = REPO_ROOT / "tests" / "golden" / "lm_parity.pt"
SPECIALS = ["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"]
# fastai's key names for a 3-layer AWD-LSTM LM (shared/pretrained/README.md)
FASTAI_KEYS = {
    "0.encoder.weight",
    "0.encoder_dp.emb.weight",
    *(f"0.rnns.{i}.weight_hh_l0_raw" for i in range(3)),
    *(
        f"0.rnns.{i}.module.{n}"
        for i in range(3)
        for n in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0")
    ),
    "1.decoder.weight",
    "1.decoder.bias",
}


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max |ours - ref| / max |ref|: relative to the tensor's scale, so near-zero entries are fine."""
    return ((ours - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module")
def general_fwd(tmp_path_factory):
    """The course's pretrained forward LM, through the registry: ``(model, itos, folder)``."""
    assert ARCHIVE.is_file(), (
        f"{ARCHIVE} is missing: the parity test needs the course's shared pretrained models "
        "next to the repository (../shared/pretrained/general-fwd.tgz)"
    )
    from ulmfit_lesson import registry

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ULMFIT_DATA", str(ARCHIVE.parent))
        mp.setenv("ULMFIT_CACHE", str(tmp_path_factory.mktemp("cache")))  # extract outside the repo
        model, itos = load_fastai_lm("general-fwd")
        folder = registry.fetch("general-fwd")
    return model, itos, folder


def tiny_lm(vocab_size=7, seed=0) -> LanguageModel:
    torch.manual_seed(seed)
    model = build_language_model(vocab_size, emb_size=4, hidden_size=6, n_layers=2)
    with torch.no_grad():
        model.decoder.decoder.bias.normal_()  # zero by default: make it visible
    return model


def tiny_itos(n=7) -> list[str]:
    return SPECIALS[:2] + [f"w{i}" for i in range(n - 2)]


# ----------------------------------------------------------------------------- parity with fastai


def test_general_fwd_matches_fastai(general_fwd):
    model, _, _ = general_fwd
    golden = torch.load(GOLDEN, weights_only=True)
    assert golden["meta"]["fastai"] == "2.8.12"
    ids = golden["vocab_ids"]
    errors = {}
    hidden = None
    with torch.no_grad():
        for i in (1, 2):  # the second batch continues the first: tests the hidden-state carry
            out = model(golden[f"x{i}"], hidden)
            hidden = out.hidden
            errors[f"logits{i}"] = rel_err(out.logits[:, :, ids], golden[f"logits{i}"])
            errors[f"logsumexp{i}"] = rel_err(out.logits.logsumexp(-1), golden[f"logsumexp{i}"])
            errors[f"raw{i}"] = rel_err(out.raw_output, golden[f"raw{i}"])
            assert torch.equal(out.logits.argmax(-1), golden[f"argmax{i}"])
    for layer, (h, c) in enumerate(hidden):
        errors[f"h{layer}"] = rel_err(h, golden[f"h{layer}"])
        errors[f"c{layer}"] = rel_err(c, golden[f"c{layer}"])
    print("relative errors vs fastai:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert max(errors.values()) < 1e-5, errors


def test_general_fwd_sizes_vocab_and_dtype(general_fwd):
    model, itos, _ = general_fwd
    c = model.config
    assert (c.vocab_size, c.emb_size, c.hidden_size, c.n_layers) == (26856, 400, 1152, 3)
    assert len(itos) == 26856 and itos[:9] == SPECIALS
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the file holds float16
    assert model.decoder.decoder.weight is model.encoder.encoder.weight


def test_saved_keys_are_fastai_keys(general_fwd, tmp_path):
    model, itos, folder = general_fwd
    theirs = torch.load(folder / "lstm_fwd.pth", map_location="cpu", weights_only=True, mmap=True)
    assert set(theirs) == FASTAI_KEYS
    save_fastai_lm(model, itos, tmp_path, half=True)
    ours = torch.load(tmp_path / "lstm_fwd.pth", map_location="cpu", weights_only=True, mmap=True)
    assert set(ours) == FASTAI_KEYS
    assert all(ours[k].dtype == theirs[k].dtype == torch.float16 for k in FASTAI_KEYS)
    assert torch.equal(ours["0.rnns.1.weight_hh_l0_raw"], theirs["0.rnns.1.weight_hh_l0_raw"])
    # the tied matrix is stored once, as in fastai's file (not three copies)
    assert (tmp_path / "lstm_fwd.pth").stat().st_size < 1.1 * (
        folder / "lstm_fwd.pth"
    ).stat().st_size
    assert read_itos(tmp_path / "itos.pkl") == itos


# ----------------------------------------------------------------------------- the restricted unpickler


class RunsShell:
    """Unpickling an instance calls os.system: the classic malicious pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_read_itos_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "itos.pkl"
    path.write_bytes(pickle.dumps(["xxunk", RunsShell(marker)]))
    with pytest.raises(
        ValueError, match=r"itos\.pkl.*refusing to load the global (posix|os)\.system"
    ):
        read_itos(path)
    assert not marker.exists()
    # the same file through plain pickle really would run the command (the test's premise)
    pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"xxunk": 0}, "got a dict"),
        (("xxunk", "xxpad"), "got a tuple"),
        (["xxunk", 3, "the", b"x"], r"2 are not: item 1 is a int, item 3 is a bytes"),
    ],
)
def test_read_itos_refuses_anything_but_a_list_of_str(tmp_path, obj, message):
    path = tmp_path / "vocab.pkl"
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(ValueError, match=f"vocab.pkl.*{message}"):
        read_itos(path)


def test_read_itos_refuses_classes_and_garbage(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps([torch.Size([2])]))  # harmless, but a class all the same
    with pytest.raises(ValueError, match="odd.pkl.*global torch.Size"):
        read_itos(path)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="odd.pkl: not a safe vocabulary pickle"):
        read_itos(path)


def test_read_itos_reads_the_real_vocabulary(general_fwd):
    _, itos, folder = general_fwd
    assert read_itos(folder / "itos.pkl") == itos
    assert itos[9:13] == [",", "the", "\n", "."]


# ----------------------------------------------------------------------------- files and errors


def test_save_then_load_round_trip_from_folder_and_archive(tmp_path):
    model, itos = tiny_lm(), tiny_itos()
    save_fastai_lm(model, itos, tmp_path / "tiny-fwd")
    archive = tmp_path / "tiny-fwd.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "tiny-fwd", arcname="tiny-fwd")
    x = torch.tensor([[2, 3, 4, 5], [6, 0, 1, 2]])
    model.eval()
    for source in (tmp_path / "tiny-fwd", tmp_path, archive):  # the folder, its parent, a .tgz
        loaded, loaded_itos = load_fastai_lm(source, drop_mult=0.5)
        assert loaded_itos == itos
        assert loaded.config == model.config.with_dropouts(
            {
                k: getattr(model.config, k)
                for k in ("input_p", "hidden_p", "weight_p", "embed_p", "output_p")
            },
            0.5,
        )
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        assert torch.equal(loaded(x).logits, model(x).logits)


def write_fastai_file(folder, state_dict, itos):
    folder.mkdir(exist_ok=True)
    torch.save(state_dict, folder / "lstm_fwd.pth")
    (folder / "itos.pkl").write_bytes(pickle.dumps(itos))


def test_load_lists_every_missing_unexpected_and_misshapen_key(tmp_path):
    model, itos = tiny_lm(), tiny_itos()
    save_fastai_lm(model, itos, tmp_path / "ok")
    sd = torch.load(tmp_path / "ok" / "lstm_fwd.pth", weights_only=True)
    del sd["0.rnns.1.module.bias_ih_l0"]
    sd["0.rnns.0.module.weight_hh_l0_extra"] = torch.zeros(3)
    sd["1.decoder.bias"] = torch.zeros(8)
    sd["0.rnns.1.weight_hh_l0_raw"] = torch.zeros(4 * 4, 5)  # layer 1 of another size
    write_fastai_file(tmp_path / "bad", sd, itos)
    with pytest.raises(ValueError) as err:
        load_fastai_lm(tmp_path / "bad")
    msg = str(err.value)
    assert (
        "bad/lstm_fwd.pth does not fit an AWD-LSTM LM of 7 words, emb 4, hidden 6, 2 layers" in msg
    )
    assert "missing encoder.rnns.1.module.bias_ih_l0 (16,)" in msg
    assert "unexpected encoder.rnns.0.module.weight_hh_l0_extra (3,)" in msg
    assert "shape of decoder.decoder.bias: found (8,), expected (7,)" in msg
    assert "shape of encoder.rnns.1.weight_hh_l0_raw: found (16, 5), expected (16, 4)" in msg


def test_load_refuses_vocab_size_mismatch_and_untied_weights(tmp_path):
    model, itos = tiny_lm(), tiny_itos()
    save_fastai_lm(model, itos, tmp_path / "ok")
    sd = torch.load(tmp_path / "ok" / "lstm_fwd.pth", weights_only=True)
    write_fastai_file(tmp_path / "short", sd, itos[:-1])
    with pytest.raises(ValueError, match="itos.pkl has 6 tokens but the embedding .* has 7 rows"):
        load_fastai_lm(tmp_path / "short")
    sd["1.decoder.weight"] = sd["1.decoder.weight"] + 1
    write_fastai_file(tmp_path / "untied", sd, itos)
    with pytest.raises(ValueError, match="tied embedding/decoder weights .* differ"):
        load_fastai_lm(tmp_path / "untied")


def test_fastai_v1_stale_weight_hh_is_dropped():
    sd = {
        "0.rnns.0.weight_hh_l0_raw": torch.ones(8, 2, dtype=torch.float16),
        "0.rnns.0.module.weight_hh_l0": torch.zeros(8, 2),
        "1.decoder.bias": torch.ones(3, dtype=torch.float16),
    }
    ours = fastai_to_ours(sd)
    assert set(ours) == {"encoder.rnns.0.weight_hh_l0_raw", "decoder.decoder.bias"}
    assert all(t.dtype == torch.float32 for t in ours.values())


def test_load_unknown_source_names_the_registry_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="'no-such-lm' is neither.*general-fwd"):
        load_fastai_lm("no-such-lm")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt: expected a folder, an archive"):
        load_fastai_lm(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match=r"found \.pth: \[\], \.pkl: \[\]"):
        load_fastai_lm(tmp_path)
