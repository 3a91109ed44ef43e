"""Fail when a module is over 600 lines or a function is over 80 lines.

Reads ``footprint/``, ``api/`` and ``datasets/`` with :mod:`ast` (nothing is imported or
run) and prints one line per finding, ``path:line name (N lines > limit)``. A function's
size is from its ``def`` (decorators included) to its last line, docstring included, as a
reader sees it. Exit status 1 when anything is over and not allowed below, 0 otherwise.

Usage: ``python scripts/sizes.py [--root DIR]``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MODULE_MAX_LINES = 600
FUNCTION_MAX_LINES = 80
PACKAGES = ("footprint", "api", "datasets")

# Exceptions, each with its reason: a module path, or ``module path::function name`` for
# one function. Empty: every module and function is within the limits (scripts/gates.sh
# runs this check before the tests).
ALLOWED: frozenset[str] = frozenset({
})


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return (node.end_lineno or node.lineno) - first + 1


def findings(root: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(allow-list key, message)`` for every module or function over its limit."""
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            text = path.read_text(encoding="utf-8")
            n_lines = len(text.splitlines())
            if n_lines > MODULE_MAX_LINES:
                yield relative, f"{relative}:1 module ({n_lines} lines > {MODULE_MAX_LINES})"
            for node in _functions(ast.parse(text, filename=relative)):
                size = _function_lines(node)
                if size > FUNCTION_MAX_LINES:
                    yield (f"{relative}::{node.name}",
                           f"{relative}:{node.lineno} {node.name} "
                           f"({size} lines > {FUNCTION_MAX_LINES})")


def main(argv: list[str] | None = None) -> int:
    """Print what is over its limit; return 1 when something is over and not allowed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    failed = 0
    for key, message in findings(args.root):
        if key in ALLOWED:
            print(f"allowed  {message}")
        else:
            print(f"OVER     {message}")
            failed += 1
    print(f"{failed} over the limits (modules {MODULE_MAX_LINES} lines, "
          f"functions {FUNCTION_MAX_LINES} lines), {len(ALLOWED)} allow-list entries")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
