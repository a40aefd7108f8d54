"""The package's shape, checked: the import direction, ruff, module and function sizes.

The import direction is written down in neunet/__init__.py; this test is its enforcement.
Every ``import`` of a neunet module anywhere in a module (top level or inside a function)
counts, so a lazy import cannot hide an edge that goes the wrong way.
"""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neunet"
# Longest module (lines) and function body (lines, docstring excluded).
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 40
# The flow's stages, earliest first: a module may import only from its own stage or earlier.
STAGES = [
    ("neunet.sim", "neunet.atomic"),
    ("neunet.params",),
    ("neunet.result", "neunet.live"),
    ("neunet.single",),
    ("neunet.analysis",),
    ("neunet.store.npz", "neunet.store.digest", "neunet.store.schema", "neunet.store.errors"),
    ("neunet.sweep.tasks", "neunet.sweep.cost", "neunet.sweep.cost_constants",
     "neunet.sweep.provenance", "neunet.sweep.task_run", "neunet.sweep"),
    ("neunet.store",),
    ("neunet.runner.exits", "neunet.runner.loop", "neunet.runner.wire", "neunet.runner"),
    ("neunet.runner.worker", "neunet.runner.coordinator", "neunet.runner.dask"),
    ("neunet.sweep.executors", "neunet.sweep.rerun", "neunet.sweep.progress", "neunet.dashboard"),
    ("neunet.coordinator", "neunet.worker", "neunet.rerun", "neunet.plot", "neunet"),
]
# (importer prefix, imported prefix, why) pairs that are forbidden whatever the stages say.
FORBIDDEN = [
    ("neunet.runner.worker", "neunet.runner.coordinator", "the two ends only share the wire"),
    ("neunet.runner.coordinator.server", "neunet.runner.worker", "the two ends share the wire"),
    ("neunet.runner.coordinator.scheduler", "neunet.runner.wire", "the scheduler is pure"),
    ("neunet.runner.dask", "neunet.runner.worker", "Dask runs tasks through sweep.task_run"),
    ("neunet.runner.worker", "neunet.store.writer", "a worker never writes a run directory"),
    ("neunet.runner.worker", "neunet.store.reader", "a worker never reads a run directory"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel.with_suffix(".py")).is_file() or (ROOT / rel / "__init__.py").is_file()


def _imports(path: Path) -> set:
    """Every neunet module `path` imports (a `from pkg import sub` names the submodule)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("neunet"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("neunet"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


def _stage(name: str) -> int:
    """The stage of a module: that of the longest matching prefix."""
    best, best_len = None, -1
    for i, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best is not None, f"{name} has no stage in tests/test_layout.py"
    return best


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
# Importing the package root itself (for `__version__`) is no edge: its names are lazy.
EDGES = {name: _imports(path) - {name, "neunet"} for name, path in MODULES.items()}


def test_no_module_imports_a_later_stage_of_the_flow():
    wrong = [f"{a} (stage {_stage(a)}) imports {b} (stage {_stage(b)})"
             for a, targets in EDGES.items() for b in targets if _stage(b) > _stage(a)]
    assert not wrong, "\n".join(wrong)


def test_sim_and_params_stand_alone():
    for name, targets in EDGES.items():
        if _within(name, "neunet.sim"):
            assert all(_within(t, "neunet.sim") for t in targets), (name, targets)
        if _within(name, "neunet.params"):
            allowed = ("neunet.params", "neunet.sim.models", "neunet.atomic")
            assert all(any(_within(t, a) for a in allowed) for t in targets), (name, targets)
        if _within(name, "neunet.runner.wire"):
            assert all(_within(t, "neunet.runner.wire") for t in targets), (name, targets)


def test_forbidden_edges_and_plot_is_a_leaf():
    for name, targets in EDGES.items():
        for importer, imported, why in FORBIDDEN:
            if _within(name, importer):
                bad = [t for t in targets if _within(t, imported)]
                assert not bad, f"{name} imports {bad}: {why}"
        if name != "neunet.plot":
            assert "neunet.plot" not in targets, f"{name} imports neunet.plot (a leaf)"


def test_the_coordinator_process_never_imports_numba(tmp_path):
    code = ("import sys\n"
            "import neunet.runner.coordinator.cli, neunet.runner.coordinator.server\n"
            "import neunet.runner.coordinator.store_writer, neunet.store\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


def test_modules_and_functions_stay_small():
    too_long = [f"{n}: {len(p.read_text().splitlines())} lines" for n, p in MODULES.items()
                if len(p.read_text().splitlines()) > MAX_MODULE_LINES]
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.body[0]
                doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str)
                start = first.end_lineno + 1 if doc and len(node.body) > 1 else first.lineno
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {node.end_lineno - start + 1} lines")
    assert not too_long, "\n".join(too_long)


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed: pip install -e .[test]")
    out = subprocess.run([ruff, "check", "neunet", "tests", "benchmarks", "examples"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
