"""The layout holds (docs/architecture.md#contracts): no import cycles, a pure engine,
import contracts kept, modules of a readable size, and no declared dependency unused."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bmadweb", "projects", "provisioning")
MAX_MODULE_LINES = 500
MAX_MODULES_UNDER_PROVISIONING = 12


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Function-level imports count: grimp reads every import statement of a module.
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_anywhere(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    planted = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        planted.add_module(name)
    planted.add_import(importer="a.x", imported="a.y")
    planted.add_import(importer="a.y", imported="a.x")
    planted.add_import(importer="a.z", imported="a.x")
    assert _cycles(planted) == [["a.x", "a.y"]]


def test_engine_imports_nothing_of_django_or_the_apps_through_any_chain(
    graph: grimp.ImportGraph,
) -> None:
    engine = "provisioning.engine"
    reached = graph.find_upstream_modules(engine, as_package=True)
    outside = {m for m in reached if not m.startswith(engine + ".") and m != engine}
    assert outside == set()
    # Third-party imports are not in this graph; the import contract in pyproject.toml
    # forbids django and the doors' libraries, transitively.


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def _source_modules() -> list[Path]:
    return [
        p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    ]


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _source_modules()}
    assert sizes, "no modules found"
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_provisioning_has_few_modules_at_its_top() -> None:
    top = sorted(p.name for p in (ROOT / "provisioning").glob("*.py"))
    assert len(top) <= MAX_MODULES_UNDER_PROVISIONING, top


def _imported_top_level_names() -> set[str]:
    names: set[str] = set()
    for path in [*_source_modules(), ROOT / "manage.py"]:
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                names.add(words[1].split(".")[0].rstrip(","))
    return names


def _declared_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        _normal(re.split(r"[<>=!\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    ]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


# Declared for what they do outside an import: the web server (gunicorn) and PostgreSQL's
# driver (psycopg, loaded by Django's backend from DATABASE_URL).
USED_WITHOUT_IMPORT = {"gunicorn", "psycopg"}


def test_every_declared_dependency_is_used() -> None:
    dist_of = packages_distributions()
    imported = _imported_top_level_names()
    used = {_normal(d) for name in imported for d in dist_of.get(name, [])}
    settings_text = (ROOT / "bmadweb" / "settings.py").read_text()
    unused = [
        dep
        for dep in _declared_dependencies()
        if dep not in used
        and dep not in USED_WITHOUT_IMPORT
        and dep.replace("-", "_") not in settings_text  # INSTALLED_APPS / MIDDLEWARE entries
    ]
    assert unused == []
