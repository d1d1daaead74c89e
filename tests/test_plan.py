"""ulmfit_lesson.course.plan: what each notebook needs, the model it gets, the hosted setup."""

from __future__ import annotations

import json
from pathlib import Path

from tests.course_fakes import NAMES
from ulmfit_lesson import registry
from ulmfit_lesson.course import plan

pytest_plugins = ["tests.course_fakes"]  # the fixtures fake_registry and fresh


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
    plans = {p.notebook.split("_")[0]: p for p in plan.plan_notebooks()}  # "03", "03a", ...
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
    plans = {p.notebook.split("_")[0]: p for p in plan.plan_notebooks()}
    assert all(p.ready and not p.downloads and not p.rebuilds_corpus for p in plans.values())
    assert "general_corpus" in plans["04"].entries and plans["04"].model == "general-fwd"
    assert plans["03a"].entries == ["general_corpus"] and plans["03a"].model is None


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


def test_a_missing_ulmfit_data_folder_is_reported(fresh, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "no-such-folder"))
    plan.hosted_setup()
    out = capsys.readouterr().out
    assert f"ULMFIT_DATA names a folder that does not exist: {tmp_path / 'no-such-folder'}" in out


def test_describe_model_says_why_wt103_is_used():
    assert plan.describe_model("general-fwd").startswith("general-fwd (the course's own model")
    text = plan.describe_model("wt103-fwd")
    assert "general-fwd is neither on this machine" in text and "60,000 words" in text


def test_downloads_text_sums_known_sizes():
    assert plan.downloads_text([("a", 1000)]) == "a (1.0 kB)"
    assert plan.downloads_text([("a", 1000), ("b", None)]) == (
        "a (1.0 kB), b (size announced when it downloads); 1.0 kB + the size of the model"
    )
