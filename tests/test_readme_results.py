"""The experiment tables in README.md are the committed CSVs' numbers
(``experiments/readme_tables.py`` writes them; rerunning an experiment without it fails here)."""

import importlib.util

from ulmfit_lesson.config import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "readme_tables", REPO_ROOT / "experiments" / "readme_tables.py"
)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)


def test_readme_tables_match_the_results_csvs():
    assert readme_tables.main(["--check"]) == 0


def test_a_changed_number_is_caught():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    tables = readme_tables.blocks()
    assert readme_tables.render(text, tables) == text
    first_row = tables["poems-3class"].splitlines()[2]
    stale = text.replace(first_row, first_row.replace("|", "| 9", 2), 1)
    assert stale != text and readme_tables.render(stale, tables) == text


def test_one_seed_has_no_spread():
    import pandas as pd

    assert readme_tables.mean_std(pd.Series([0.5])) == "0.500"
    assert readme_tables.mean_std(pd.Series([0.5, 0.7])) == "0.600 ± 0.141"
