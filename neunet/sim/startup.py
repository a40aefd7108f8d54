"""What a simulator process does before numba loads: hide the optional modules numba probes.

Used by the command line (`neunet.sim.__main__`, for the duration of one run) and by a sweep
worker's slot process (`neunet.dist.slot`, for its whole life: it only simulates).
"""
from __future__ import annotations

import os
import sys


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


def unhide(hidden: list) -> None:
    """Make the modules `hide_optional_modules` hid importable again."""
    for name in hidden:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
