"""Data flows one way: the compiler and the DSL import no module that imports them back.

The import graph of nicc.compiler and nicc.dsl (every import, also inside functions; imports only
for type checkers excepted) has no cycle, and each module imports alone in a fresh interpreter."""
import ast
import os
import subprocess
import sys

import networkx as nx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = {"compiler": "nicc.compiler", "dsl": "nicc.dsl"}


def modules() -> dict[str, str]:
    """module name -> source path, for every module of the packages checked."""
    out = {}
    for d, pkg in PACKAGES.items():
        for root, _, files in os.walk(os.path.join(ROOT, d)):
            for f in sorted(files):
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(root, f), os.path.join(ROOT, d))[:-3].split(os.sep)
                    name = ".".join([pkg, *rel])
                    out[name.removesuffix(".__init__")] = os.path.join(root, f)
    return out


def _runtime_imports(tree: ast.AST):
    """Import statements, skipping ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _runtime_imports(node)


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in modules().items():
        pkg = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
        g.add_node(name)
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in _runtime_imports(tree):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [target] + [f"{target}.{a.name}" for a in node.names]
            else:
                targets = [a.name for a in node.names]
            for t in targets:
                if t in modules() and t != name:
                    g.add_edge(name, t)
    return g


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles)


def test_the_graph_sees_function_level_imports():
    g = import_graph()
    assert g.has_edge("nicc.dsl.pipeline", "nicc.compiler.passes.verify")
    assert g.has_edge("nicc.compiler.ir", "nicc.compiler.printer")
    assert not g.has_edge("nicc.compiler.printer", "nicc.compiler.ir")      # only for type checkers


@pytest.mark.parametrize("name", sorted(modules()))
def test_each_module_imports_alone(name):
    r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
