"""Tests of neunet.sim.kernels_cache: lean loads of cached numba functions, in fresh processes.

The lean loads skip numba's compile-only set-up and initialize the NRT runtime only for
libraries that name it; a cached function that allocates (needs the runtime) must still load
and run, and a cache miss must still compile normally.
"""
import subprocess
import sys
import textwrap

# A user module with one allocating and one non-allocating cached function.
USER_MODULE = textwrap.dedent("""
    import numpy as np
    from numba import njit

    @njit(cache=True)
    def ones(n):
        return np.ones(n) * 2.0

    @njit(cache=True)
    def total(a):
        s = 0.0
        for x in a:
            s += x
        return s
""")
# Program run in a fresh process: lean loads on, then both functions called.
PROGRAM = textwrap.dedent("""
    import sys
    from neunet.sim.kernels_cache import lean_cache_loads
    assert lean_cache_loads()
    import usermod
    a = usermod.ones(5)
    print(usermod.total(a), type(a).__name__, usermod.ones.stats.cache_hits.total() > 0)
""")


def _run(tmp_path):
    r = subprocess.run([sys.executable, "-c", PROGRAM], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_cached_allocating_function_loads_with_lean_loads(tmp_path):
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    first = _run(tmp_path)         # compiles (cache miss): full refresh
    second = _run(tmp_path)        # loads from the cache: lean path, runtime needed
    assert first == ["10.0", "ndarray", "False"]
    assert second == ["10.0", "ndarray", "True"]
