"""ulmfit_lesson.course.plan: the offline kit (pack, extract, use as ULMFIT_DATA) and the doctor.

Registry entries are small fakes made here (a dataset of two files, a pretrained-model archive),
put into ``registry.REGISTRY`` for the test; ``ULMFIT_DATA`` / ``ULMFIT_CACHE`` point at tmp dirs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from ulmfit_lesson import registry
from ulmfit_lesson.course import cli_workshop, plan
from ulmfit_lesson.registry import Entry, FileSpec


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DS_FILES = {"train.tsv": b"text\tlabel\nhello\tpos\n", "dev.tsv": b"text\tlabel\nbye\tneg\n"}
MODEL_FILES = {"lstm_fwd.pth": b"weights" * 100, "itos.pkl": b"vocab"}


def make_tgz(folder: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MODEL_TGZ = make_tgz("fake-fwd", MODEL_FILES)


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Two fake entries, their files in a data dir (``src``), an empty cache."""
    ds = Entry(
        "fake_ds",
        "dataset",
        tuple(FileSpec(n, None, sha(d)) for n, d in DS_FILES.items()),
        "CC0",
        "Nobody 2024",
        "a tiny dataset",
    )
    model = Entry(
        "fake-fwd",
        "pretrained",
        (FileSpec("fake-fwd.tgz", None, sha(MODEL_TGZ)),),
        "CC0",
        "Nobody 2024",
        "a tiny model",
        extracts_to="fake-fwd",
        contents=tuple(FileSpec(n, None, sha(d)) for n, d in MODEL_FILES.items()),
    )
    monkeypatch.setitem(registry.REGISTRY, ds.name, ds)
    monkeypatch.setitem(registry.REGISTRY, model.name, model)
    src = tmp_path / "src"
    (src / "fake_ds").mkdir(parents=True)
    for name, data in DS_FILES.items():
        (src / "fake_ds" / name).write_bytes(data)
    (src / "pretrained").mkdir()
    (src / "pretrained" / "fake-fwd.tgz").write_bytes(MODEL_TGZ)
    monkeypatch.setenv("ULMFIT_DATA", str(src))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    return src


NAMES = ["fake_ds", "fake-fwd"]


def test_pack_kit_layout_and_checksums(fake_registry, tmp_path):
    kit = plan.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    with tarfile.open(kit) as tf:
        names = set(tf.getnames())
        sums = tf.extractfile("ulmfit-kit/SHA256SUMS").read().decode()
    assert {
        "ulmfit-kit/fake_ds/train.tsv",
        "ulmfit-kit/fake_ds/dev.tsv",
        "ulmfit-kit/pretrained/fake-fwd.tgz",
        "ulmfit-kit/SHA256SUMS",
        "ulmfit-kit/kit.json",
        "ulmfit-kit/README.md",
    } <= names
    assert f"{sha(MODEL_TGZ)}  pretrained/fake-fwd.tgz" in sums.splitlines()
    assert f"{sha(DS_FILES['dev.tsv'])}  fake_ds/dev.tsv" in sums.splitlines()


def test_extracted_kit_is_a_data_directory(fake_registry, tmp_path, monkeypatch):
    kit = plan.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(kit, room)  # what a participant does (or `tar xzf`)
    folder = room / "ulmfit-kit"
    assert plan.verify_kit(folder) == []
    # a fresh machine: only the kit, an empty cache
    monkeypatch.setenv("ULMFIT_DATA", str(folder))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake_ds") == folder / "fake_ds"
    model_dir = registry.fetch("fake-fwd")  # verified and extracted from the kit's archive
    assert model_dir == tmp_path / "fresh-cache" / "fake-fwd"
    assert (model_dir / "lstm_fwd.pth").read_bytes() == MODEL_FILES["lstm_fwd.pth"]
    assert all(c.status == "ok" for c in registry.verify("fake_ds"))


def test_use_kit_extracts_verifies_and_sets_ulmfit_data(fake_registry, tmp_path, monkeypatch):
    kit = plan.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    monkeypatch.setenv("ULMFIT_DATA", "")
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    folder = plan.use_kit(kit, dest=tmp_path / "here", report=lambda _: None)
    assert folder == tmp_path / "here" / "ulmfit-kit"
    assert registry.fetch("fake_ds") == folder / "fake_ds"  # ULMFIT_DATA now holds the kit
    # a damaged copy is refused, naming the file
    (folder / "fake_ds" / "dev.tsv").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="fake_ds/dev.tsv"):
        plan.use_kit(folder, report=lambda _: None)


def test_pack_kit_refuses_corrupt_or_missing_files(fake_registry, tmp_path):
    (fake_registry / "fake_ds" / "train.tsv").write_bytes(b"not the course's file")
    with pytest.raises(registry.ChecksumError, match="train.tsv"):
        plan.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    assert not (tmp_path / "kit.tar.gz").exists()  # nothing half-written
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    with pytest.raises(FileNotFoundError, match="fake-fwd"):
        plan.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)


def test_pack_kit_from_an_extracted_model(fake_registry, tmp_path, monkeypatch):
    """Only the extracted folder is on the machine (no archive): its files go in as NAME/..."""
    registry.fetch("fake-fwd")  # extracts into the cache
    (fake_registry / "pretrained" / "fake-fwd.tgz").unlink()
    kit = plan.pack_kit(tmp_path / "kit.tar.gz", ["fake-fwd"], report=lambda _: None)
    room = tmp_path / "room"
    registry.safe_extract(kit, room)
    monkeypatch.setenv("ULMFIT_DATA", str(room / "ulmfit-kit"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "fresh-cache"))
    assert registry.fetch("fake-fwd") == room / "ulmfit-kit" / "fake-fwd"


def test_doctor_healthy(fake_registry):
    lines: list[str] = []
    code = plan.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    for check in ("python", "torch", "ipywidgets", "data fake_ds", "data fake-fwd", "disk"):
        assert f"] {check}:" in text, check
    assert "READY" in text and "NOT READY" not in text


def test_doctor_names_a_missing_dataset_and_the_fix(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").unlink()
    lines: list[str] = []
    code = plan.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 1
    assert "[FAIL] data fake_ds: missing: dev.tsv (no public URL)" in text
    assert "unpack-kit ulmfit-kit.tar.gz" in text and "ULMFIT_MIRROR" in text
    assert "[ ok ] data fake-fwd" in text
    assert "NOT READY" in text and "data fake_ds" in text.splitlines()[-1]


def test_doctor_reports_a_corrupt_copy(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").write_bytes(b"changed")
    check = plan.check_entry("fake_ds")
    assert check.status == "fail" and "corrupt" in check.detail and "dev.tsv" in check.fix


def test_doctor_cli_and_json(fake_registry, capsys):
    assert cli_workshop.main(["doctor", "--no-probe", "--names", *NAMES]) == 0
    assert "data fake_ds" in capsys.readouterr().out
    assert cli_workshop.main(["doctor", "--no-probe", "--json", "--names", "fake_ds"]) == 0
    assert '"name": "data fake_ds"' in capsys.readouterr().out


def test_pack_and_unpack_cli(fake_registry, tmp_path, capsys):
    kit = tmp_path / "kit.tar.gz"
    assert cli_workshop.main(["pack-kit", "--out", str(kit), "--names", *NAMES]) == 0
    assert cli_workshop.main(["unpack-kit", str(kit), "--to", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert f'ULMFIT_DATA="{(tmp_path / "x" / "ulmfit-kit").resolve()}"' in out
    assert cli_workshop.main(["pack-kit", "--out", str(kit), "--names", "no_such_entry"]) == 1


def test_speed_probe_and_prediction(monkeypatch):
    monkeypatch.setattr(plan, "PROBE", dict(vocab_size=50, bs=2, bptt=8))
    monkeypatch.setattr(plan, "PROBE_MODEL", dict(emb_size=8, hidden_size=16, n_layers=2))
    # one thread: on a busy shared CPU, two OpenMP threads can be 100x slower for tiny ops
    probe = plan.speed_probe(seconds=0.2, min_steps=2, threads=1)
    assert probe["seconds_per_step"] > 0 and probe["steps"] >= 2 and probe["threads"] == 1
    times = {
        "reference": {"probe_seconds_per_step": 2.0},
        "notebooks": {"01.ipynb": {"full_seconds": 600}, "02.ipynb": {"full_seconds": 300}},
    }
    assert plan.predict_course_seconds(4.0, times) == pytest.approx(1800)  # 2x slower
    times["notebooks"]["03.ipynb"] = {"full_seconds": None}  # not measured yet
    assert plan.predict_course_seconds(4.0, times) is None
    times["notebooks"]["03.ipynb"] = {"full_seconds": 900}
    fake = {"seconds_per_step": 4.0, "steps": 3, "threads": 2, "device": "cpu"}
    monkeypatch.setattr(plan, "speed_probe", lambda seconds: dict(fake))
    check = plan.check_speed(1, times=times)
    assert check.status == "ok" and "2.0x" in check.detail and "1 h 00 min" in check.detail
    fake["seconds_per_step"] = 8.0  # 4x the reference: suggest quick mode
    check = plan.check_speed(1, times=times)
    assert check.status == "warn" and "ULMFIT_QUICK=1" in check.fix
    check = plan.check_speed(1, times={})
    assert check.status == "info" and "no course-time prediction" in check.detail


def test_times_table_is_valid():
    times = plan.load_times()
    assert "notebooks" in times and "reference" in times


def test_hosted_setup_is_quiet_and_safe_locally(fake_registry, capsys):
    plan.hosted_setup(names=NAMES)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ulmfit_lesson ")
    Path(fake_registry / "fake_ds" / "dev.tsv").unlink()
    plan.hosted_setup(names=NAMES)
    assert "Not on this machine yet: fake_ds." in capsys.readouterr().out


def test_the_documented_setup_cell_runs_here(fake_registry, capsys):
    """docs/colab.md's setup cell (what every notebook starts with) is valid IPython and, where
    the package is installed, installs nothing and prints one line."""
    from IPython.core.inputtransformer2 import TransformerManager

    doc = (Path(__file__).resolve().parent.parent / "docs" / "colab.md").read_text()
    cell = doc.split("```python\n", 1)[1].split("```", 1)[0]
    assert "%pip install" in cell and "plan.hosted_setup(KIT)" in cell
    source = TransformerManager().transform_cell(cell)
    assert "get_ipython().run_line_magic('pip'" in source
    exec(compile(source, "setup-cell", "exec"), {"get_ipython": None})  # %pip branch not taken
    assert capsys.readouterr().out.startswith("ulmfit_lesson ")


# --- a fresh machine: what the notebooks need, doctor, hosted_setup, fetch, serve-kit ------------


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No ULMFIT_DATA, no mirror, an empty cache: a self-learner's laptop."""
    for var in ("ULMFIT_DATA", "ULMFIT_DATA_BASE", registry.MIRROR_ENV, registry.PIN_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_notebook_needs_match_the_notebooks():
    """The table covers every notebook, and names only registry entries (or MODEL/CORPUS)."""
    on_disk = sorted(p.name for p in (plan.config.REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(plan.NOTEBOOK_NEEDS) == on_disk
    for needs in plan.NOTEBOOK_NEEDS.values():
        for need in needs:
            assert need in (plan.MODEL, plan.CORPUS) or need in registry.REGISTRY, need
    text = (plan.config.REPO_ROOT / "notebooks" / "08_emotions_goemotions.ipynb").read_text()
    assert "load_goemotions" in text and "load_poem_sentiment" not in text


def test_plan_on_a_fresh_machine_uses_wt103_and_rebuilds_the_corpus(fresh):
    plans = {p.notebook[:2]: p for p in plan.plan_notebooks()}
    assert plans["03"].entries == [] and plans["03"].ready and not plans["03"].downloads
    assert plans["00"].model == "wt103-fwd" and plans["02"].model is None
    assert dict(plans["00"].downloads) == {"poem_sentiment": 68_520, "wt103-fwd": None}
    assert plans["05"].rebuilds_corpus and "general_corpus" not in plans["05"].entries
    assert {"wikitext-2", "nltk_public_domain_speeches"} <= set(plans["05"].entries)
    assert all(p.ready for p in plans.values())  # nothing needs the course's shared folder
    assert not any(n.startswith("general") for p in plans.values() for n in p.entries)


def test_plan_with_the_course_data_present(fresh, monkeypatch):
    """general-fwd and general_corpus on disk: the notebooks use them and download nothing."""
    monkeypatch.setattr(registry, "available_locally", lambda name: True)
    monkeypatch.setattr(plan, "course_model", lambda direction="fwd": "general-fwd")
    plans = plan.plan_notebooks()
    assert all(p.ready and not p.downloads and not p.rebuilds_corpus for p in plans)
    assert "general_corpus" in plans[4].entries and plans[4].model == "general-fwd"


def test_doctor_on_a_fresh_machine_is_ready_and_says_what_it_downloads(fresh):
    lines: list[str] = []
    code = plan.run_doctor(probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "READY for the course" in text and "NOT READY" not in text
    assert "[info] notebook 00: runs after downloading poem_sentiment (68.5 kB), wt103-fwd " in text
    assert "wt103-fwd (size announced when it downloads)" in text
    assert "[ ok ] notebook 03: ready, no data" in text
    assert "general_corpus is rebuilt on first use from wikitext-2" in text
    assert "the notebooks use wt103-fwd" in text
    assert "python -m ulmfit_lesson fetch" in text
    assert "general-fwd.tgz" not in text and "shared" not in text


def test_doctor_predicts_time_for_the_model_used(fresh):
    times = {
        "reference": {"probe_seconds_per_step": 1.0},
        "notebooks": {
            "00_overview.ipynb": {"full_seconds": 600},
            "05_lm_finetuning.ipynb": {"full_seconds": 600},
        },
    }
    checks = {c.name: c for c in plan.check_notebooks(probe_seconds=2.0, times=times)}
    assert "about 20 min here" in checks["notebook 00"].detail  # classifier only: x1
    factor = 1 + plan.LM_SHARE["05_lm_finetuning.ipynb"] * (plan.LM_STEP_FACTOR - 1)
    assert f"about {round(20 * factor)} min here, x{factor:.2f} for wt103-fwd" in (
        checks["notebook 05"].detail
    )
    assert "reasoned, not measured" in checks["model"].detail
    wt103 = {nb: plan.notebook_factor(nb, "wt103-fwd") for nb in times["notebooks"]}
    assert plan.predict_course_seconds(2.0, times, wt103) == pytest.approx(
        2 * 600 + 2 * 600 * factor
    )
    assert plan.notebook_factor("05_lm_finetuning.ipynb", "general-fwd") == 1.0


def test_a_missing_ulmfit_data_folder_is_reported(fresh, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "no-such-folder"))
    plan.hosted_setup()
    out = capsys.readouterr().out
    assert f"ULMFIT_DATA names a folder that does not exist: {tmp_path / 'no-such-folder'}" in out
    checks = plan.doctor(probe=False)
    assert any(c.status == "warn" and str(tmp_path / "no-such-folder") in c.detail for c in checks)


def test_hosted_setup_on_a_fresh_machine_speaks_to_each_audience(fresh, capsys):
    plan.hosted_setup()
    out = capsys.readouterr().out
    assert "Not on this machine yet: poem_sentiment, wt103-fwd" in out
    assert "The pretrained model here: wt103-fwd (fastai's WikiText-103 model" in out
    assert "- On your own: the notebooks download what they need" in out
    assert "poem_sentiment (68.5 kB)" in out and "python -m ulmfit_lesson fetch\n" in out
    assert "- In a workshop: set ULMFIT_MIRROR" in out and "- Developing the course" in out
    assert "build-corpus" in out
    assert "../shared" not in out and "come with the workshop kit" not in out


def _serve_fake(fake_registry, tmp_path):
    """A loopback mirror of the fake entries (the local-only layout)."""
    from ulmfit_lesson import mirror

    mirror.build_mirror(tmp_path / "mirror", NAMES)
    return mirror.serve(tmp_path / "mirror")


def test_fetch_downloads_now(fake_registry, tmp_path, monkeypatch, capsys):
    fresh = tmp_path / "cache"  # fake_registry's, still empty
    with _serve_fake(fake_registry, tmp_path) as url:
        monkeypatch.delenv("ULMFIT_DATA")
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert cli_workshop.main(["fetch", "fake_ds", "fake-fwd"]) == 0
    assert (fresh / "fake_ds" / "dev.tsv").read_bytes() == DS_FILES["dev.tsv"]
    assert (fresh / "fake-fwd" / "lstm_fwd.pth").is_file()
    assert f"fake-fwd: {fresh / 'fake-fwd'}" in capsys.readouterr().out
    assert cli_workshop.main(["fetch", "no_such_entry"]) == 1


def test_fetch_sha256_pins_a_file_without_a_published_digest(fresh, tmp_path, monkeypatch):
    """--sha256: a wrong value refuses the download (nothing kept); the right one is recorded."""
    from ulmfit_lesson import mirror

    entry = Entry(
        "unpinned-fwd",
        "pretrained",
        (FileSpec("unpinned-fwd.tgz", "https://example.invalid/models/unpinned-fwd.tgz", None),),
        "CC0",
        "Nobody 2024",
        "a model without a published sha256",
        extracts_to="fake-fwd",
    )
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    target = tmp_path / "mirror" / registry.mirror_path(entry, entry.files[0])
    target.parent.mkdir(parents=True)
    target.write_bytes(MODEL_TGZ)
    with mirror.serve(tmp_path / "mirror") as url:
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert cli_workshop.main(["fetch", entry.name, "--sha256", "0" * 64]) == 1
        assert not (fresh / "unpinned-fwd.tgz").exists()
        assert not (fresh / "unpinned-fwd").exists()
        assert entry.files[0].filename not in registry.recorded_sha256()
        assert cli_workshop.main(["fetch", entry.name, "--sha256", sha(MODEL_TGZ).upper()]) == 0
    record = registry.recorded_sha256()[entry.files[0].filename]
    assert record["sha256"] == sha(MODEL_TGZ) and record["size"] == len(MODEL_TGZ)
    assert cli_workshop.main(["fetch", "fake_ds", "fake-fwd", "--sha256", "0" * 64]) == 2
    assert cli_workshop.main(["fetch", entry.name, "--sha256", "abc"]) == 2
    assert cli_workshop.main(["fetch", "general-fwd", "--sha256", "0" * 64]) == 2  # published
    assert registry.PIN_ENV not in os.environ  # the pin was for that run only


def test_serve_kit_out_writes_the_mirror_layout(fake_registry, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plan, "COURSE_ENTRIES", tuple(NAMES))
    out = tmp_path / "room"
    assert cli_workshop.main(["serve-kit", "--out", str(out)]) == 0
    local = out / registry.LOCAL_MIRROR_PATH
    assert (local / "fake_ds" / "dev.tsv").read_bytes() == DS_FILES["dev.tsv"]
    assert (local / "fake-fwd" / "fake-fwd.tgz").read_bytes() == MODEL_TGZ
    assert not (local / "fake-fwd" / "fake-fwd.tgz").is_symlink()  # a copy: movable
    assert "python -m http.server" in capsys.readouterr().out
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "empty-cache"))
    assert cli_workshop.main(["serve-kit", "--out", str(tmp_path / "x")]) == 1


def test_serve_kit_serves_a_kit_to_the_room(fake_registry, tmp_path, monkeypatch):
    """From a kit archive: verified, laid out, served; a participant's fresh machine fetches from
    it with ULMFIT_MIRROR; the printed line is the one participants set."""
    import threading

    monkeypatch.setattr(plan, "COURSE_ENTRIES", tuple(NAMES))
    kit = plan.pack_kit(tmp_path / "kit.tar.gz", NAMES, report=lambda _: None)
    monkeypatch.setenv("ULMFIT_DATA", "")
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=plan.serve_kit,
        kwargs=dict(kit=kit, host="127.0.0.1", port=0, report=lines.append, stop=stop),
    )
    thread.start()
    try:
        for _ in range(200):
            if any("Serving" in line for line in lines):
                break
            stop.wait(0.05)
        text = "\n".join(lines)
        assert "ULMFIT_MIRROR=http://127.0.0.1:" in text and "hostname -I" in text, text
        url = text.split("ULMFIT_MIRROR=", 1)[1].split()[0]
        monkeypatch.setenv("ULMFIT_DATA", "")  # the participant: no kit, an empty cache
        monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "participant"))
        monkeypatch.setenv(registry.MIRROR_ENV, url)
        assert registry.fetch("fake_ds") == tmp_path / "participant" / "fake_ds"
        assert (registry.fetch("fake-fwd") / "itos.pkl").read_bytes() == MODEL_FILES["itos.pkl"]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_lan_address_sends_nothing_and_is_not_loopback():
    address = plan.lan_address()
    assert address is None or (not address.startswith("127.") and address.count(".") == 3)


def test_doctor_checks_a_file_without_published_sha256_against_its_record(fresh, monkeypatch):
    """Trust on first use: the recorded digest is what a later copy must match."""
    entry = Entry(
        "tofu-fwd",
        "pretrained",
        (FileSpec("tofu-fwd.tgz", "https://example.invalid/tofu-fwd.tgz", None),),
        "CC0",
        "Nobody 2024",
        "a model without a published sha256",
        extracts_to="fake-fwd",
    )
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    fresh.mkdir(parents=True)
    (fresh / "tofu-fwd.tgz").write_bytes(MODEL_TGZ)
    check = plan.check_entry(entry.name)
    assert check.status == "ok" and "no published sha256" in check.detail
    registry.record_sha256(entry.files[0], sha(MODEL_TGZ), len(MODEL_TGZ), "test")
    check = plan.check_entry(entry.name)
    assert check.status == "ok" and "recorded at its first download" in check.detail
    (fresh / "tofu-fwd.tgz").write_bytes(MODEL_TGZ[:-1] + b"x")  # changed after the record
    check = plan.check_entry(entry.name)
    assert check.status == "fail" and "corrupt copy" in check.detail


def test_notebook_needs_follow_the_notebooks():
    """doctor's table of what each notebook reads agrees with what the notebooks call."""
    from ulmfit_lesson.config import REPO_ROOT

    reads = {
        plan.MODEL: "course_model(",
        plan.CORPUS: "load_pretraining_corpus(",
        "goemotions": "load_goemotions(",
    }
    notebooks = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert [p.name for p in notebooks] == sorted(plan.NOTEBOOK_NEEDS)
    for path in notebooks:
        code = "\n".join(
            "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        for need, call in reads.items():
            assert (call in code) == (need in plan.NOTEBOOK_NEEDS[path.name]), (path.name, need)
