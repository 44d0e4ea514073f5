"""Fail on an import cycle among product modules, and on function-local imports of project
modules beyond the few that must be local (each with a one-line reason on the line above).

A function-local import that dodges a cycle hides a dependency pointing the wrong way: move
the shared thing down instead. grimp reads every import statement, local ones included, so a
cycle hidden inside a function is still a cycle here.

Usage: python scripts/check_imports.py   (exit 1 and a list of problems, or exit 0)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "inventory_sync",
    "access",
    "ledger",
    "allocation",
    "channels",
    "reconciliation",
    "insight",
)
MAX_LOCAL_IMPORTS = 5


def cycles(graph, modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child)
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def _python_files(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def local_imports(root: Path) -> list[tuple[str, int, str, str]]:
    """(path, line, imported module, reason) for each project import inside a function."""
    found = []
    for path in _python_files(root):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                target = _project_target(node)
                if target is None:
                    continue
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                reason = above[1:].strip() if above.startswith("#") else ""
                found.append((str(path.relative_to(root)), node.lineno, target, reason))
    return found


def _project_target(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom):
        if node.level:
            return "." * node.level + (node.module or "")
        module = node.module or ""
    elif isinstance(node, ast.Import):
        module = node.names[0].name
    else:
        return None
    return module if module.split(".")[0] in PACKAGES else None


def problems(root: Path = ROOT) -> list[str]:
    sys.path.insert(0, str(root))
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    product = {module for module in graph.modules if ".migrations" not in module}
    report = [f"import cycle: {' <-> '.join(component)}" for component in cycles(graph, product)]
    local = local_imports(root)
    for path, line, target, reason in local:
        if not reason:
            report.append(f"{path}:{line}: local import of {target} without a reason above it")
    if len(local) > MAX_LOCAL_IMPORTS:
        report.append(
            f"{len(local)} function-local imports of project modules (at most "
            f"{MAX_LOCAL_IMPORTS}): " + ", ".join(f"{p}:{n}" for p, n, _, _ in local)
        )
    return report


def main() -> int:
    report = problems()
    for line in report:
        print(line)
    if report:
        return 1
    print(f"imports: no cycle among {', '.join(PACKAGES)}; local imports within bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
