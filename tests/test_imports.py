"""``import hydracache_sync`` loads only the stdlib and cbor2."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import hydracache_sync

ALLOWED_THIRD_PARTY = {"cbor2", "_cbor2"}


def _full_modules_after(code: str) -> set[str]:
    script = f"import sys; {code}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out))


def _modules_after(code: str) -> set[str]:
    return {name.split(".")[0] for name in _full_modules_after(code)}


def test_import_loads_no_driver() -> None:
    """Neither redis nor psycopg2 (nor flask) is imported by the package."""
    loaded = _modules_after("import hydracache_sync") - _modules_after("pass")
    assert set() == loaded & {"redis", "psycopg2", "flask", "prometheus_client"}
    third_party = {
        name
        for name in loaded
        if name not in sys.stdlib_module_names and name != "hydracache_sync"
    }
    assert third_party <= ALLOWED_THIRD_PARTY, third_party


def test_import_works_without_drivers() -> None:
    """With redis and psycopg2 unimportable the package still imports and works."""
    code = (
        "import sys; sys.modules['redis'] = None; sys.modules['psycopg2'] = None; "
        "import hydracache_sync as h; c = h.HydraCache.local(); c.set('k', 1); "
        "assert c.get('k') == 1\n"
        "try:\n    h.RedisStore.from_url('redis://127.0.0.1:1')\n"
        "except h.MissingDependencyError as e:\n    print('redis:', e)\n"
        "try:\n    h.PostgresStore('dbname=x')\n"
        "except h.MissingDependencyError as e:\n    print('postgres:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "hydracache_sync[redis]" in out
    assert "hydracache_sync[postgres]" in out


def test_library_logger_has_a_null_handler() -> None:
    """An app without logging set up gets none of our warnings on stderr.

    Without the ``NullHandler`` Python's last-resort handler would print the
    degraded tier's warning here.
    """
    code = (
        "import logging, hydracache_sync as h\n"
        "assert any(isinstance(x, logging.NullHandler)"
        " for x in logging.getLogger('hydracache_sync').handlers)\n"
        "logging.getLogger('hydracache_sync').warning('a tier failed')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert "" == done.stderr


def test_import_loads_no_benchmarks() -> None:
    """Neither the bench subpackage nor rich loads with the package or its CLI."""
    for code in ("import hydracache_sync", "import hydracache_sync.cli"):
        loaded = _full_modules_after(code)
        bench = {n for n in loaded if n.startswith("hydracache_sync.bench")}
        assert set() == bench, code
        assert set() == {n for n in loaded if n.split(".")[0] == "rich"}, code


def test_bench_loads_rich_and_no_driver() -> None:
    """The bench runner loads rich, but no driver until a tier family runs."""
    loaded = _modules_after("import hydracache_sync.bench.runner")
    assert "rich" in loaded
    assert set() == loaded & {"redis", "psycopg2"}


def _imported_roots(path: Path) -> set[str]:
    import ast

    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_drivers_imported_only_by_their_tiers() -> None:
    """redis only in tiers/*redis*, psycopg2 only in tiers/*postgres* (and bench/)."""
    package = Path(hydracache_sync.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("bench/"):
            continue  # the benchmarks measure the raw drivers as baselines
        for driver, owner in (("redis", "redis"), ("psycopg2", "postgres")):
            mine = relative.startswith("tiers/") and owner in path.name
            if driver in _imported_roots(path) and not mine:
                offenders.append(f"{relative} imports {driver}")
    assert [] == offenders


PACKAGE = Path(hydracache_sync.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["hydracache_sync", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (functions and TYPE_CHECKING too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                # ``from . import _stats`` imports a module; ``from x import y``
                # imports module x (and y when y is a module itself).
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {module for module in found if module in modules}


def _import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    return {
        _module_name(path): _imports(path, modules) - {_module_name(path)}
        for path in paths
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found is not None:
                return found
    return None


def test_no_import_cycle() -> None:
    """No package module imports itself through others, even for type checking.

    Imports inside functions and under ``if TYPE_CHECKING:`` count: a circle
    a type checker needs is a circle in the design. The package ``__init__``
    only re-exports, so imports of it are not counted.
    """
    graph = _import_graph()
    graph.pop("hydracache_sync")
    for targets in graph.values():
        targets.discard("hydracache_sync")
    assert None is _cycle(graph)


def test_cycle_finder_sees_a_cycle() -> None:
    """The walker reports a three-module circle and accepts a chain."""
    assert ["a", "b", "c", "a"] == _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert None is _cycle({"a": {"b"}, "b": set()})
