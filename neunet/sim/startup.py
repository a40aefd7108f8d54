"""What a simulator process does before numpy and numba load: one BLAS thread, no optional modules.

Used by the command line (`neunet.sim.__main__`, for the duration of one run) and by a sweep
worker's slot process (`neunet.runner.worker.slot_process`, for its whole life: it only simulates).
"""
from __future__ import annotations

import os
import sys

# Thread-count variables of the BLAS/OpenMP libraries numpy may load, set to 1 unless set.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_thread_libraries() -> None:
    """Let numpy's BLAS start no threads of its own (unless the user set a count): the
    simulator is numba code that never calls BLAS, and at import OpenBLAS's threads cost
    ~0.08 s of CPU per process (several slots or simulator processes share the cores, so that
    is time taken from simulations). Effective only before numpy is imported."""
    for name in THREAD_VARS:
        os.environ.setdefault(name, "1")


def hide_optional_modules() -> list:
    """Keep numba from importing optional modules it only probes; returns the hidden names.

    At its first compile or cache load numba imports scipy.linalg only to probe BLAS for
    np.dot/np.linalg, which the simulator kernels never use (~0.2 s of every start-up); and
    at import it loads PyYAML (~20 ms) only to read a ``.numba_config.yaml`` in the working
    directory, so yaml is hidden only when there is no such file. A module is hidden only
    when neither it nor numba is loaded yet; `unhide` makes them importable again.
    """
    hidden = []
    candidates = [("scipy", "numba.np.arraymath")]
    if not os.path.exists(".numba_config.yaml"):
        candidates.append(("yaml", "numba"))
    for name, user in candidates:
        if name not in sys.modules and user not in sys.modules:
            sys.modules[name] = None   # makes `import name` raise ImportError
            hidden.append(name)
    return hidden


def skip_numba_extensions() -> None:
    """Tell numba (once imported) that its extensions are initialized, without the scan.

    At the first call of any jitted function numba reads the entry points of every installed
    distribution, looking for ``numba_extensions`` (15-65 ms on the development machine:
    ~120 metadata files). The simulator's cached kernels use no numba extension; call this
    only in a process that runs nothing but them (the command line).
    """
    try:
        from numba.core import entrypoints
    except ImportError:
        return
    if hasattr(entrypoints, "_already_initialized"):
        entrypoints._already_initialized = True


def unhide(hidden: list) -> None:
    """Make the modules `hide_optional_modules` hid importable again."""
    for name in hidden:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
