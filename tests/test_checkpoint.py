"""Checkpoints: round trip, weights_only safety, atomic writes, corrupt files, mismatches."""

import os

import pytest
import torch

from ulmfit_lesson.awd_lstm import AWDLSTM
from ulmfit_lesson.checkpoint import (
    VERSION,
    CheckpointError,
    encoder_state_dict,
    load_checkpoint,
    load_encoder,
    load_into,
    load_language_model,
    save_checkpoint,
)
from ulmfit_lesson.language_model import build_language_model

ITOS = ["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"] + [
    f"w{i}" for i in range(11)
]


N_ITOS = len(ITOS)


def tiny_lm(vocab=N_ITOS, seed=0, **kw):
    torch.manual_seed(seed)
    sizes = dict(emb_size=8, hidden_size=12, n_layers=2) | kw
    return build_language_model(vocab, **sizes)


def test_round_trip_rebuilds_the_model(tmp_path):
    model = tiny_lm(drop_mult=0.3)
    path = save_checkpoint(tmp_path / "lm.pt", model, ITOS, extra={"note": "hi", "epochs": [1, 2]})
    raw = torch.load(path, weights_only=True)  # readable without unpickling arbitrary objects
    assert raw["version"] == VERSION and raw["extra"]["note"] == "hi"
    loaded, itos = load_language_model(path)
    assert itos == ITOS
    assert loaded.config == model.config  # dropouts (drop_mult 0.3) included
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    # the tie survives: one matrix, not three copies
    assert loaded.decoder.decoder.weight is loaded.encoder.encoder.weight
    x = torch.randint(0, len(ITOS), (2, 5))
    assert torch.equal(model.eval()(x).logits, loaded(x).logits)


def test_optimizer_state_round_trip(tmp_path):
    model = tiny_lm()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.7, 0.99))
    model(torch.randint(0, len(ITOS), (2, 5))).logits.sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "lm.pt", model, ITOS, optimizer=opt)
    state = load_checkpoint(tmp_path / "lm.pt")
    opt2 = torch.optim.AdamW(tiny_lm().parameters(), lr=1e-3)
    opt2.load_state_dict(state["optimizer"])
    assert opt2.param_groups[0]["betas"] == (0.7, 0.99)
    assert torch.equal(
        opt2.state[opt2.param_groups[0]["params"][0]]["exp_avg"],
        opt.state[opt.param_groups[0]["params"][0]]["exp_avg"],
    )


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "lm.pt"
    save_checkpoint(path, tiny_lm(seed=1), ITOS, extra={"which": "old"})
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the disk ...
        raise OSError("No space left on device")  # ... then the disk fills up

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, tiny_lm(seed=2), ITOS, extra={"which": "new"})
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["extra"]["which"] == "old"
    assert os.listdir(tmp_path) == ["lm.pt"]  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_files_are_named_and_called_corrupt(tmp_path, damage):
    path = tmp_path / "lm.pt"
    save_checkpoint(path, tiny_lm(), ITOS)
    data = path.read_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": os.urandom(2000), "empty": b""}[damage]
    path.write_bytes(bad)
    with pytest.raises(CheckpointError, match=r"lm\.pt is corrupt"):
        load_checkpoint(path)


class Evil:
    def __reduce__(self):
        return (print, ("this ran while loading!",))


def test_arbitrary_pickles_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "ulmfit_lesson.checkpoint", "version": 1, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_checkpoint(path)
    assert "this ran" not in capsys.readouterr().out


def test_not_a_checkpoint_and_future_versions(tmp_path):
    torch.save({"0.encoder.weight": torch.zeros(2, 2)}, tmp_path / "fastai.pth")
    with pytest.raises(CheckpointError, match="not a ulmfit_lesson checkpoint"):
        load_checkpoint(tmp_path / "fastai.pth")
    torch.save({"format": "ulmfit_lesson.checkpoint", "version": VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match=f"version {VERSION + 1}"):
        load_checkpoint(tmp_path / "new.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_only_plain_values_can_be_saved(tmp_path):
    with pytest.raises(TypeError, match=r"\['extra'\]\['when'\].*datetime"):
        import datetime

        save_checkpoint(tmp_path / "x.pt", tiny_lm(), ITOS, extra={"when": datetime.date.today()})
    assert not (tmp_path / "x.pt").exists()


def test_vocab_and_architecture_mismatches_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "lm.pt", tiny_lm(), ITOS)
    state = load_checkpoint(path)
    with pytest.raises(CheckpointError, match="20 tokens, the model has 25"):
        load_into(tiny_lm(vocab=25), state, source=str(path))
    other = list(ITOS)
    other[12] = "zzz"
    with pytest.raises(CheckpointError, match=r"id 12: 'zzz' vs 'w3'"):
        load_into(tiny_lm(), state, itos=other, source=str(path))
    with pytest.raises(
        CheckpointError, match=r"encoder\.rnns\.0\.weight_hh_l0_raw.*\(48, 12\).*\(64, 16\)"
    ):
        load_into(tiny_lm(hidden_size=16), state, source=str(path))
    with pytest.raises(CheckpointError, match=r"unexpected encoder\.rnns\.2"):
        load_into(
            tiny_lm(n_layers=2),
            {
                **state,
                "model": load_checkpoint(
                    save_checkpoint(tmp_path / "3.pt", tiny_lm(n_layers=3), ITOS)
                )["model"],
            },
        )


def test_encoder_state_dict_loads_into_an_awd_lstm(tmp_path):
    model = tiny_lm()
    state = load_checkpoint(save_checkpoint(tmp_path / "lm.pt", model, ITOS))
    encoder = AWDLSTM(model.config)
    encoder.load_state_dict(encoder_state_dict(state), strict=True)
    assert torch.equal(encoder.encoder.weight, model.encoder.encoder.weight)
    # an encoder-only checkpoint (what the recipes write as encoder.pt), with new dropouts
    path = save_checkpoint(
        tmp_path / "encoder.pt", model.encoder, ITOS, model.config, extra={"kind": "encoder"}
    )
    loaded, itos = load_encoder(path, input_p=0.4)
    assert itos == ITOS and loaded.input_dp.p == 0.4
    for (k, a), b in zip(model.encoder.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k


def test_itos_pickle_is_not_needed(tmp_path):
    """The vocabulary is stored as a list of str inside the torch file, not as a separate pickle."""
    path = save_checkpoint(tmp_path / "lm.pt", tiny_lm(), ITOS)
    assert load_checkpoint(path)["itos"] == ITOS
    with pytest.raises(TypeError, match="list of str"):
        save_checkpoint(tmp_path / "bad.pt", tiny_lm(), [1, 2, 3])
