"""The experiment tables in docs/results.md, and the numbers of the README's "Results at a glance",
are the committed CSVs' numbers (``experiments/readme_tables.py`` writes both; rerunning an
experiment without it fails here)."""

import importlib.util
import re

from ulmfit_lesson.config import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "readme_tables", REPO_ROOT / "experiments" / "readme_tables.py"
)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)

RESULTS = REPO_ROOT / "docs" / "results.md"
README = REPO_ROOT / "README.md"


def test_results_tables_and_readme_match_the_results_csvs():
    assert readme_tables.main(["--check"]) == 0


def test_every_table_has_its_block_in_docs_results():
    text = RESULTS.read_text(encoding="utf-8")
    for name in readme_tables.blocks():
        assert f"<!-- results:{name} -->" in text, name
        assert f"<!-- /results:{name} -->" in text, name
    # The tables moved: the README links to them instead of carrying them.
    readme = README.read_text(encoding="utf-8")
    assert "<!-- results:poems-3class -->" not in readme
    assert "(docs/results.md)" in readme


def test_a_changed_number_is_caught():
    text = RESULTS.read_text(encoding="utf-8")
    tables = readme_tables.blocks()
    assert readme_tables.render(text, tables) == text
    first_row = tables["poems-3class"].splitlines()[2]
    stale = text.replace(first_row, first_row.replace("|", "| 9", 2), 1)
    assert stale != text and readme_tables.render(stale, tables) == text


def test_a_changed_number_at_a_glance_is_caught():
    text = README.read_text(encoding="utf-8")
    numbers = readme_tables.glance()
    assert readme_tables.render(text, numbers) == text
    poems = numbers["glance-poems"]
    assert re.match(r"ULMFiT 0\.\d{3} / 0\.\d{3}, ", poems)
    stale = text.replace(poems, poems.replace("ULMFiT 0.", "ULMFiT 1.", 1), 1)
    assert stale != text and readme_tables.render(stale, numbers) == text


def test_readme_glance_agrees_with_the_results_tables():
    """The glance's ULMFiT scores are the means that the compare table's first row shows."""
    row = readme_tables.blocks()["poems-3class"].splitlines()[2]
    acc, f1 = re.findall(r"(0\.\d{3}) ±", row)[:2]
    assert readme_tables.glance()["glance-poems"].startswith(f"ULMFiT {acc} / {f1}")


def test_one_seed_has_no_spread():
    import pandas as pd

    assert readme_tables.mean_std(pd.Series([0.5])) == "0.500"
    assert readme_tables.mean_std(pd.Series([0.5, 0.7])) == "0.600 ± 0.141"


def test_front_page_links_lead_somewhere():
    """Every relative link of the README, docs/results.md and docs/install.md names a file that
    exists (anchors: a heading that exists)."""

    def anchors(path):
        heads = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
        return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}

    for page in (README, RESULTS, REPO_ROOT / "docs" / "install.md"):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            name, _, anchor = target.partition("#")
            path = (page.parent / name).resolve() if name else page
            assert path.exists(), f"{page.name}: link to {target}"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{page.name}: no heading for {target}"
