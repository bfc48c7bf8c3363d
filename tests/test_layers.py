"""The package's layers: every module imports only its own layer or those below, in any function.

docs/architecture.md draws these layers. A new module must be placed here.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "openl3"

#: The packages from the ground up (docs/architecture.md draws them). A module may import
#: modules of its own layer (without a circle between packages) and of the layers below it,
#: never above.
LAYERS = [
    # 0. private helpers: errors, checks, whole-file writes, URIs, file and writer identity,
    #    shards, the vocabulary of runs
    ["_util", "version", "openl3_exceptions", "openl3_warnings"],
    # 1. models: towers, weights, precision, the batch runner, embedding settings
    ["models"],
    # 2. the computation of each modality (video uses audio and image)
    ["audio", "image", "video"],
    # 3. Parquet datasets: parts, rows, manifest, locks
    ["dataset"],
    # 4. runs over files: driver, engines, the .npz layout
    ["runs"],
    # 5. the public functions (0.4.2's, in core) and objects
    ["embedders", "core"],
    # 6. from embeddings to answers: they read datasets and call embedders
    ["classify", "search"],
    # 7. the command, the package itself, and the paths the documentation names, kept
    ["cli", "__main__", "__init__", *["hear", "rows", "labels", "pooling", "precision", "export", "maps"]],
]

#: Modules kept at a path the documentation names, re-exporting their home: nothing imports them.
KEPT_PATHS = {"hear", "rows", "labels", "pooling", "precision", "export", "maps"}

#: Our modules that import a heavy third-party package (Keras) when imported: the only ones
#: a function may import, to defer that package.
HEAVY = {"models.layers"}

#: The most lines a module may have: a newcomer can hold it in mind. A hint, not a reason to
#: split one concept into siblings: the modules below hold one concept each, and say why.
MAX_LINES = 400
LONGER = {
    "core": "OpenL3 0.4.2's seven functions and their documented parameters, in one module as 0.4.2 had",
}


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
    assert_no_circle(graph, "import circle")


def assert_no_circle(graph, what):
    """Fail naming the first circle of ``graph`` (name -> the names it imports), if there is one."""
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"{what}: {' -> '.join([*trail, name])}"
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
    assert lines <= MAX_LINES or name in LONGER, (
        f"openl3/{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_LINES})"
    )


def test_the_checks_catch_what_they_forbid(tmp_path):
    """The import reader sees function-local and relative imports at any depth."""
    module = tmp_path / "probe.py"
    module.write_text("from .files import x\n\ndef f():\n    from ..cli import y\n    from . import audio\n")
    found = imports("models.probe", module)
    assert ("models.files", 1, False) in found and ("cli", 4, True) in found and ("models", 5, True) in found


def _package_graph():
    """Return the imports between packages (top-level names below openl3), each package's own left out."""
    graph = {}
    for name, path in ALL:
        top = name.split(".")[0]
        graph.setdefault(top, set()).update(t.split(".")[0] for t, _, _ in imports(name, path))
    return {top: targets - {top} for top, targets in graph.items()}


def test_no_circle_between_packages():
    """audio, image and video share a layer: video uses the other two, never the reverse."""
    assert_no_circle(_package_graph(), "package circle")


def test_nothing_imports_a_kept_path():
    """The kept paths re-export their homes; the package itself imports the homes."""
    for name, path in ALL:
        for target, line, _ in imports(name, path):
            assert target.split(".")[0] not in KEPT_PATHS or name.split(".")[0] == target, (
                f"openl3.{name}:{line} imports the kept path openl3.{target}: import its home instead"
            )


def test_every_package_says_what_it_exports():
    import importlib

    for name, path in ALL:
        if path.name == "__init__.py" or name in KEPT_PATHS:
            module = importlib.import_module(f"openl3.{name}" if name != "__init__" else "openl3")
            assert isinstance(getattr(module, "__all__", None), list), f"openl3.{name} has no __all__"
            for exported in module.__all__:
                assert hasattr(module, exported), f"openl3.{name}.__all__ names {exported}, which it lacks"
