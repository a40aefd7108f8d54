"""neunet.sim.startup: the modules a simulator process keeps numba from importing."""
import subprocess
import sys

from dist_helpers import env

# Runs in a fresh interpreter: reports what was hidden, whether numba then loaded without
# them, and whether they import again after unhide.
_PROBE = """
import sys
from neunet.sim.startup import hide_optional_modules, unhide
hidden = hide_optional_modules()
from neunet.sim import api  # numba and the engine
loaded = sorted(m for m in ("scipy", "yaml") if sys.modules.get(m) is not None)
unhide(hidden)
import yaml
print(sorted(hidden), loaded, "yaml" in sys.modules)
"""


def _probe(cwd):
    r = subprocess.run([sys.executable, "-c", _PROBE], cwd=cwd, env=env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_scipy_and_yaml_stay_unloaded_and_come_back_after_unhide(tmp_path):
    assert _probe(tmp_path) == "['scipy', 'yaml'] [] True"


def test_yaml_is_left_alone_when_a_numba_config_file_needs_it(tmp_path):
    (tmp_path / ".numba_config.yaml").write_text("{}\n")
    assert _probe(tmp_path) == "['scipy'] ['yaml'] True"  # numba read its config file


_THREADS = """
import os
from neunet.sim.startup import single_thread_libraries
single_thread_libraries()
import numpy
print(os.environ["OPENBLAS_NUM_THREADS"], os.environ["OMP_NUM_THREADS"],
      len(os.listdir("/proc/self/task")))
"""


def test_numpy_starts_no_blas_threads_unless_the_user_asks_for_them(tmp_path):
    def run(**extra):
        clean = {k: v for k, v in env().items() if not k.endswith("_NUM_THREADS")}
        r = subprocess.run([sys.executable, "-c", _THREADS], env=dict(clean, **extra),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()
    assert run() == ["1", "1", "1"]                        # one OS thread: no BLAS pool
    assert run(OPENBLAS_NUM_THREADS="2")[:2] == ["2", "1"]  # the user's own count stays


_EXTENSIONS = """
import importlib.metadata as md
calls = []
real = md.entry_points
md.entry_points = lambda *a, **k: calls.append(1) or real(*a, **k)
from numba import njit
from neunet.sim.startup import skip_numba_extensions
skip_numba_extensions()
print(njit(lambda x: x + 1)(1), len(calls))
"""


def test_numba_skips_its_extension_scan_after_skip_numba_extensions(tmp_path):
    r = subprocess.run([sys.executable, "-c", _EXTENSIONS], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "0"]
    r = subprocess.run([sys.executable, "-c", _EXTENSIONS.replace("skip_numba_extensions()",
                                                                  "")],
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.stdout.split() == ["2", "1"]          # without it numba scans once
