"""The package's layers: every module imports only its own layer or those below, in any function.

docs/architecture.md draws these layers. A new module must be placed here.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "openl3"

#: From the ground up. A module may import modules of its own layer (without a circle) and
#: of the layers below it, never above.
LAYERS = [
    # 0. foundations: errors, files written whole, checks, URIs, what runs share
    [
        "exceptions",
        "openl3_exceptions",
        "openl3_warnings",
        "version",
        "atomic",
        "validation",
        "remote",
        "shard",
        "shared_cache",
        "interrupt",
        "console",
        "progress",
        "jobs",
    ],
    # 1. signal and models
    ["signal", "precision", "models"],
    # 2. the modalities: decode, frame, embed (no driver, no output)
    ["batching", "windows", "audio_decode", "audio_core", "image_core", "video_core"],
    # 3. output layouts and engines
    ["npz", "manifest", "locks", "parts", "rows", "dataset", "local_engine", "ray_engine"],
    # 4. the run driver
    ["files"],
    # 5. the public functions and objects
    ["embedders", "audio", "image", "video", "stream", "hear", "export", "core"],
    # 6. from embeddings to answers: they read datasets and call embedders; nothing below imports them
    ["labels", "pooling", "classify", "search", "maps"],
    # 7. the command, and the package itself
    ["cli", "__main__", "__init__"],
]

#: Our modules that import a heavy third-party package (Keras) when imported: the only ones
#: a function may import, to defer that package.
HEAVY = {"models.layers"}

#: The most lines a module may have: a newcomer can hold it in mind.
MAX_LINES = 400


def modules():
    """Every module of the package, as (dotted name below openl3, path)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(parts), path


def layer_of(name):
    top = name.split(".")[0]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"openl3.{name} is in no layer of tests/test_layers.py: place it there")


def imports(name, path):
    """Return (target module, line, inside a function) for each import of our own modules."""
    tree = ast.parse(path.read_text())
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    local = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
    }
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            module = [*base, *(node.module.split(".") if node.module else [])]
            if node.module:
                targets = [".".join(module)]
            else:  # "from . import x": a module x, or a name of the package itself
                names = [".".join([*module, alias.name]) for alias in node.names]
                targets = [n if n in KNOWN else ".".join(module) or "__init__" for n in names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openl3."):
            targets = [node.module.removeprefix("openl3.")]
        elif isinstance(node, ast.Import):
            targets = [a.name.removeprefix("openl3.") for a in node.names if a.name.startswith("openl3.")]
        found += [(target, node.lineno, id(node) in local) for target in targets if target]
    return found


ALL = list(modules())
KNOWN = {name for name, _ in ALL}


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_a_module_imports_only_its_layer_and_below(name, path):
    own = layer_of(name)
    for target, line, in_function in imports(name, path):
        assert layer_of(target) <= own, f"openl3.{name}:{line} imports openl3.{target}, a layer above it"
        if in_function:
            assert target in HEAVY, (
                f"openl3.{name}:{line} imports openl3.{target} inside a function: import it at the top "
                "(only modules that load a heavy package may be imported late)"
            )


def test_no_import_circle():
    graph = {name: {t for t, _, _ in imports(name, path)} for name, path in ALL}
    names = set(graph)

    def resolve(target):
        while target and target not in names:
            target = target.rpartition(".")[0]
        return target

    graph = {name: {resolve(t) for t in targets} - {"", name} for name, targets in graph.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"import circle: {' -> '.join([*trail, name])}"
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if target != "__init__":
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


@pytest.mark.parametrize(("name", "path"), ALL, ids=[name for name, _ in ALL])
def test_a_module_fits_in_mind(name, path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"openl3/{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_LINES})"


def test_the_checks_catch_what_they_forbid(tmp_path):
    """The import reader sees function-local and relative imports at any depth."""
    module = tmp_path / "probe.py"
    module.write_text("from .files import x\n\ndef f():\n    from ..cli import y\n    from . import audio\n")
    found = imports("models.probe", module)
    assert ("models.files", 1, False) in found and ("cli", 4, True) in found and ("models", 5, True) in found
