"""The tests themselves: shared helpers come from helpers.py or conftest.py, never from a test module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_modules(tree: ast.AST) -> list[str]:
    """Return the modules a parsed file imports, at any depth (function-local imports too).

    ``from . import x`` and ``from .. import x`` give ``x``: a relative import of a module.
    """
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names += [node.module] if node.module else [alias.name for alias in node.names]
    return names


def test_imports_of_test_modules_are_found():
    code = "import test_a\nfrom test_b import x\ndef f():\n    from . import test_c\n    import os.path\n"
    assert imported_modules(ast.parse(code)) == ["test_a", "test_b", "test_c", "os.path"]


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda path: path.name)
def test_no_test_file_imports_a_test_module(path):
    imported = imported_modules(ast.parse(path.read_text(), str(path)))
    test_modules = [name for name in imported if name.split(".")[-1].startswith("test_")]
    assert not test_modules, f"{path.name} imports {test_modules}: move what they share to helpers.py"
