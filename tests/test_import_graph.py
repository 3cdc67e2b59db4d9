"""The package's imports form no cycle, counting imports inside functions too (read with ast)."""

import ast
from pathlib import Path

import labelwise

ROOT = Path(labelwise.__file__).parent


def module_names() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package by its __init__.py)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["labelwise", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its body (functions included,
    ``if TYPE_CHECKING:`` blocks excluded: they never run). ``from pkg import sub`` counts as an
    import of the module ``pkg.sub`` when there is one, else of ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
            and _type_checking_only(block) for stmt in block.body for n in ast.walk(stmt)}
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def all_cycles(graph):
    """Strongly connected groups of more than one module (for the failure message)."""
    seen, groups = set(), []
    for a in sorted(graph):
        reach = _reach(graph, a)
        group = sorted(b for b in reach if a in _reach(graph, b)) if a in reach else []
        if group and a not in seen:
            seen |= set(group)
            groups.append(group)
    return groups


def _reach(graph, a):
    out, todo = set(), [a]
    while todo:
        for b in graph[todo.pop()]:
            if b not in out:
                out.add(b)
                todo.append(b)
    return out


def test_finds_a_cycle_in_a_hand_made_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_reads_function_level_and_relative_imports(tmp_path):
    mod = tmp_path / "m.py"
    mod.write_text("import labelwise.engine\nif TYPE_CHECKING:\n    import labelwise.loop\n"
                   "def f():\n    from labelwise.strategies import registry, Strategy\n"
                   "    from .. import papers\n")
    modules = module_names()
    assert imports_of("labelwise.app.m", mod, modules) == {
        "labelwise.engine", "labelwise.strategies.registry", "labelwise.strategies",
        "labelwise.papers"}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50
    cycles = all_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)
