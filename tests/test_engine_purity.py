"""The engine stays plain Python (STYLE.md point 1)."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "provisioning" / "engine"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_engine_module_imports_django():
    modules = sorted(ENGINE.rglob("*.py"))
    assert modules, "the engine package has no modules"
    offenders = {
        str(p.relative_to(ENGINE)): sorted(
            m for m in _imported_modules(p) if m == "django" or m.startswith("django.")
        )
        for p in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_purity_check_detects_a_django_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from django.conf import settings\n", encoding="utf-8")
    assert "django.conf" in _imported_modules(sample)
