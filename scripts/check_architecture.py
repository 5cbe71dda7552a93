"""Architecture rules of dagster_project/ (docs/architecture.md), checked in `make lint` and a test:

1. no import cycle between modules (imports inside functions count: they hide a cycle, not remove it);
2. `defs/resources.py` imports nothing from the rest of `defs/`;
3. only `settings.py` reads the environment (`os.environ`, `os.getenv`), apart from the modules named
   in ENVIRONMENT_READERS with their reason;
4. a module over 500 lines says why at its top, in a docstring line starting "Long module:".

Exits 1 listing every violation."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "dagster_project"
MAX_LINES = 500
# Modules that may touch os.environ: settings.py reads every variable once (and its
# environment_overrides hands dbt its variables, since dagster-dbt starts dbt with a copy of os.environ).
ENVIRONMENT_READERS = {"dagster_project.settings"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def check(root: Path) -> list[str]:
    problems: list[str] = []
    package_dir = root / PACKAGE
    modules: dict[str, tuple[Path, ast.Module]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        name = module_name(root, path)
        modules[name] = (path, ast.parse(path.read_text("utf-8"), str(path)))
    graph: dict[str, set[str]] = {}
    for name, (path, tree) in modules.items():
        targets = set()
        for imported in imports_of(tree, name, path.name == "__init__.py"):
            # `from pkg import mod` names a module; `from mod import func` names the module itself.
            while imported not in modules and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            # A package's __init__ importing its own sub-modules is not a cycle with them.
            own_submodule = path.name == "__init__.py" and imported.startswith(name + ".")
            if (
                imported in modules
                and imported != name
                and not name.startswith(imported + ".")
                and not own_submodule
            ):
                targets.add(imported)
        graph[name] = targets
        relative = path.relative_to(root)
        if name == f"{PACKAGE}.defs.resources":
            inside = sorted(t for t in targets if t.startswith(f"{PACKAGE}.defs."))
            if inside:
                problems.append(
                    f"{relative}: imports {', '.join(inside)} (defs/resources.py must be a leaf of defs/)"
                )
        if name not in ENVIRONMENT_READERS:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("environ", "getenv", "putenv", "unsetenv")
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                ):
                    problems.append(f"{relative}:{node.lineno}: reads the environment (only settings.py may)")
        lines = len(path.read_text("utf-8").splitlines())
        docstring = ast.get_docstring(tree) or ""
        if lines > MAX_LINES and "Long module:" not in docstring:
            problems.append(f"{relative}: {lines} lines; split it or say why at its top ('Long module: …')")
    for cycle in find_cycles(graph):
        problems.append("import cycle: " + " → ".join(cycle))
    return problems


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} architecture problem(s) (docs/architecture.md)", file=sys.stderr)
        return 1
    print("architecture: no import cycle, resources a leaf, environment read in settings.py only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
