"""Fail when a function in the product code is longer than 100 lines.

    python scripts/check_function_length.py        (run by `make lint`)

A function's length runs from its `def` line to its last line, decorators excluded; methods and
nested functions are measured on their own (a nested function also counts towards its parent).
Tests are left out: a long given / when / then reads better than one split for the count.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "inventory_sync",
    "access",
    "ledger",
    "allocation",
    "channels",
    "reconciliation",
    "insight",
    "bench",
    "scripts",
)
SKIPPED_DIRECTORIES = frozenset({"migrations", ".venv", "__pycache__"})
MAX_LINES = 100


@dataclass(frozen=True)
class LongFunction:
    path: Path
    line: int
    name: str
    length: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} ({self.length} lines)"


def python_files(root: Path, packages: Iterable[str]) -> Iterator[Path]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if not SKIPPED_DIRECTORIES.intersection(path.relative_to(root).parts):
                yield path


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, node
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def long_functions(
    root: Path = ROOT, packages: Iterable[str] = PACKAGES, limit: int = MAX_LINES
) -> tuple[list[LongFunction], int]:
    """Functions longer than `limit` lines under `root`'s packages, and how many were measured."""
    found: list[LongFunction] = []
    measured = 0
    for path in python_files(root, packages):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _functions(tree):
            measured += 1
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append(LongFunction(path.relative_to(root), node.lineno, name, length))
    return found, measured


def main() -> int:
    found, measured = long_functions()
    for function in found:
        print(function)
    if found:
        print(
            f"{len(found)} of {measured} functions are longer than {MAX_LINES} lines; split them."
        )
        return 1
    print(f"{measured} functions in {', '.join(PACKAGES)}: none longer than {MAX_LINES} lines.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
