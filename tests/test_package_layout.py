"""The package's shape, as docs/DESIGN.md states it: the core never imports the course, the imports
have no cycles, no module reaches into another's private names, modules stay small enough to read
in one sitting, and every module has its own test file."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ulmfit_lesson"
ENTRY_POINTS = {"ulmfit_lesson.cli"}  # assembles the commands, the course's included
MAX_LINES = 520  # "read in one sitting"; most modules are well under 400
# Modules whose tests live in a file named after what they test rather than after the module.
TESTED_ELSEWHERE = {
    "ulmfit_lesson.__main__": "test_cli_lm.py",  # `python -m ulmfit_lesson` runs in the CLI tests
    "ulmfit_lesson.cli": "test_cli_lm.py",
    "ulmfit_lesson.distributed": "test_ddp.py",
    "ulmfit_lesson.progress": "test_train.py",
    "ulmfit_lesson.interrupt": "test_reliability.py",
    "ulmfit_lesson.mirror": "test_mirror.py",
    "ulmfit_lesson.corpus_builder": "test_build_corpus.py",
    "ulmfit_lesson.course.cli_workshop": "test_kit.py",
    "ulmfit_lesson.course.results": "test_experiments.py",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, top level or not."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [a.name for a in node.names]
            out.append((base, names))
            out += [(f"{base}.{n}", []) for n in names]  # `from pkg import module`
    return [(m, n) for m, n in out if m.startswith("ulmfit_lesson")]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m, _ in _imports(name, path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_the_core_never_imports_the_course():
    bad = [
        f"{name} imports {dep}"
        for name, deps in _graph().items()
        if not name.startswith("ulmfit_lesson.course") and name not in ENTRY_POINTS
        for dep in deps
        if dep.startswith("ulmfit_lesson.course")
    ]
    assert bad == []


def test_imports_have_no_cycles():
    graph = {n: d - {"ulmfit_lesson", "ulmfit_lesson.course"} for n, d in _graph().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep) :] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_takes_another_modules_private_names():
    modules = _modules()
    bad = [
        f"{name} takes {module}.{n}"
        for name, path in modules.items()
        for module, names in _imports(name, path)
        for n in names
        if n.startswith("_") and not n.startswith("__") and module in modules and module != name
    ]
    assert bad == []


def test_modules_can_be_read_in_one_sitting():
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_module_has_its_own_tests():
    tests = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    missing = []
    for name in _modules():
        if name in ("ulmfit_lesson", "ulmfit_lesson.course"):
            continue
        own = f"test_{name.rsplit('.', 1)[-1]}.py"
        if own not in tests and TESTED_ELSEWHERE.get(name) not in tests:
            missing.append(f"{name}: no tests/{own}")
    assert missing == []


def test_the_checks_above_would_catch_a_cycle_and_a_private_import(tmp_path):
    src = "from ulmfit_lesson.b import _secret\nfrom . import c\n"
    found = (
        _imports("ulmfit_lesson.a", tmp_path / "a.py")
        if (tmp_path / "a.py").write_text(src)
        else []
    )
    assert ("ulmfit_lesson.b", ["_secret"]) in found and ("ulmfit_lesson.c", []) in found
