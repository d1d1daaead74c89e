"""integrity.py: the state-dict fit check, weight digests and run manifests name what is wrong."""

import pytest
import torch

from ulmfit_lesson.integrity import (
    MANIFEST,
    CheckpointError,
    check_fits,
    check_weights,
    tensor_sha256,
    verify_manifest,
    weight_digests,
    write_manifest,
)


def test_check_fits_lists_every_problem_at_once():
    expected = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "c": torch.zeros(1)}
    found = {"a": torch.zeros(3, 2), "c": torch.zeros(1), "z": torch.zeros(5)}
    with pytest.raises(CheckpointError) as err:
        check_fits(expected, found, "x.pt", "this model")
    assert str(err.value).splitlines() == [
        "x.pt does not fit this model:",
        "  missing b (4,)",
        "  unexpected z (5,)",
        "  shape of a: found (3, 2), expected (2, 3)",
    ]
    check_fits(expected, {k: v.clone() for k, v in expected.items()}, "x.pt", "this model")


def test_weights_are_checked_against_their_digests_and_for_nan():
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    digests = weight_digests(weights)
    assert digests == {"w": tensor_sha256(weights["w"])}
    check_weights(weights, digests, "f.pt")
    changed = {"w": weights["w"].clone()}
    changed["w"][0, 0] = 0.5
    with pytest.raises(CheckpointError, match="f.pt is damaged: the weights 'w' do not match"):
        check_weights(changed, digests, "f.pt")
    changed["w"][0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="hold 1 NaN or infinite values"):
        check_weights(changed, None, "f.pt")


def test_manifest_names_a_changed_file(tmp_path):
    (tmp_path / "a.txt").write_text("one", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("two", encoding="utf-8")
    assert verify_manifest(tmp_path) is False  # no manifest yet
    write_manifest(tmp_path)
    assert (tmp_path / MANIFEST).is_file() and verify_manifest(tmp_path)
    (tmp_path / "sub" / "b.txt").write_text("twx", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"sub/b.txt is damaged: its sha256 differs"):
        verify_manifest(tmp_path)
    assert verify_manifest(tmp_path, only=["a.txt"])
