"""Static layering rules for Cradle's product packages.

The import rules between ``flows``, ``stages``, ``model``, ``manifests``, ``review``, ``demo``
and ``bench`` are architectural decisions, not accidents. This module parses every product
source file with :mod:`ast` (nothing is imported) so that a forbidden dependency, including a
lazy import inside a function, fails CI instead of letting the layering decay silently.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("flows", "stages", "model", "manifests", "review", "demo", "bench")
LEDGER = "manifests/ledger/"
MAX_LINES = 400
SESSION_CALL = re.compile(r"\.session\(")


@cache
def product_files() -> tuple[Path, ...]:
    files: list[Path] = []
    for package in PRODUCT_PACKAGES:
        files.extend(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    return tuple(sorted(files))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def imported_modules(path: Path) -> frozenset[str]:
    """Absolute module names imported anywhere in ``path`` (``from x import y`` adds x and x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module or node.module == "__future__":
                continue
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def matches(module: str, forbidden: Iterable[str]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def violations(under: str | None, forbidden: Iterable[str], exempt: str | None = None) -> list[str]:
    """``file: module`` pairs for files below ``under`` (all when None) importing ``forbidden``."""
    forbidden = tuple(forbidden)
    found: list[str] = []
    for path in product_files():
        name = rel(path)
        if under is not None and not name.startswith(under):
            continue
        if exempt is not None and name.startswith(exempt):
            continue
        found.extend(
            f"{name}: {module}"
            for module in sorted(imported_modules(path))
            if matches(module, forbidden)
        )
    return found


def report(found: list[str]) -> str:
    return "layering violations:\n  " + "\n  ".join(found)


def test_product_files_are_found() -> None:
    assert product_files(), f"no product sources found under {ROOT}"


def test_only_flows_imports_prefect() -> None:
    found = violations(None, ("prefect", "prefect_dask"), exempt="flows/")
    assert not found, report(found)


def test_manifests_import_no_heavy_libraries_or_upper_layers() -> None:
    heavy = ("torch", "mediapipe", "transformers", "cv2")
    upper = ("stages", "model", "flows", "review", "demo")
    found = violations("manifests/", heavy + upper)
    assert not found, report(found)


def test_model_imports_no_stages_flows_review_demo() -> None:
    found = violations("model/", ("stages", "flows", "review", "demo"))
    assert not found, report(found)


def test_stages_import_no_flows_or_review() -> None:
    found = violations("stages/", ("flows", "review"))
    assert not found, report(found)


def test_review_imports_only_manifests_of_the_product() -> None:
    found = violations("review/", ("flows", "stages", "model", "demo"))
    assert not found, report(found)


def test_only_ledger_imports_sqlalchemy_or_alembic() -> None:
    found = violations(None, ("sqlalchemy", "alembic"), exempt=LEDGER)
    assert not found, report(found)


def test_demo_imports_no_stages_flows_model() -> None:
    found = violations("demo/", ("stages", "flows", "model"))
    assert not found, report(found)


def test_bench_imports_nothing_from_tests() -> None:
    found = violations("bench/", ("tests",))
    assert not found, report(found)


def test_only_ledger_touches_sessions_and_ledger_internals() -> None:
    found = violations(None, ("manifests.ledger.tables", "manifests.ledger.store"), exempt=LEDGER)
    for path in product_files():
        name = rel(path)
        if name.startswith(LEDGER):
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SESSION_CALL.search(line):
                found.append(f"{name}:{lineno}: .session( call")
    assert not found, report(found)


def test_web_frameworks_only_in_review() -> None:
    found = violations("stages/", ("fastapi", "starlette"))
    found += violations(None, ("fastapi", "starlette", "jinja2"), exempt="review/")
    assert not found, report(sorted(set(found)))


def test_product_modules_are_at_most_400_lines() -> None:
    found = []
    for path in product_files():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES:
            found.append(f"{rel(path)}: {count} lines")
    assert not found, f"modules over {MAX_LINES} lines:\n  " + "\n  ".join(found)
