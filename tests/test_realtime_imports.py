"""The realtime package's boundaries, checked on its source: it never imports the
models, reaches the database through reads.py only, and its ordering core is pure."""

import ast
from pathlib import Path

import pytest

from tests.servers import ROOT

PACKAGE = ROOT / "chat" / "realtime"
MODULES = sorted(PACKAGE.glob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module the file imports (`from chat import models` counts as chat.models)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_package_has_modules_to_check() -> None:
    assert {p.name for p in MODULES} >= {"ordering.py", "hub.py", "sync.py", "shutdown.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_realtime_never_imports_the_models(path: Path) -> None:
    bad = {
        name for name in imported(path) if name == "chat.models" or name.startswith("chat.models.")
    }
    bad |= {
        name for name in imported(path) if name.startswith(("django.db.models", "chat.services"))
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_only_reads_py_touches_the_selectors(path: Path) -> None:
    uses = {n for n in imported(path) if n == "chat.selectors" or n.startswith("chat.selectors.")}
    assert not uses or path.name == "reads.py", f"{path.name} imports {sorted(uses)}"


def test_ordering_is_pure() -> None:
    names = imported(PACKAGE / "ordering.py")
    allowed = {
        "collections.abc",
        "collections.abc.Sequence",
        "dataclasses",
        "dataclasses.dataclass",
    }
    assert names <= allowed, sorted(names - allowed)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from chat import models\n")
    assert "chat.models" in imported(sneaky)
