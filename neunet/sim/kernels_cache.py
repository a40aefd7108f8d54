"""Cheap start-up: load the kernels from numba's cache without numba's compile-only registries.

Before loading any cached function numba refreshes its CPU target context, and the first
refresh imports about 40 modules of implementations (numba.np.arraymath, linalg, typed
containers, jitclass, ... and, through linalg, SciPy), installs the builtin lowering registry
and refreshes the typing context (~1000 templates): ~0.25 s that only *compiling* needs. A
cached function needs just the NRT runtime. ``lean_cache_loads()`` makes the refresh done
inside a cache load initialize only the runtime; a real compile (cache miss) still refreshes
the context fully, since numba's compiler refreshes it itself before typing anything.
Applied once per process; a numba without the expected internals is left untouched.
"""
import threading

# Per-thread depth of cache loads in progress (lean refreshes only inside them).
_DEPTH = threading.local()
# Whether the patch is installed in this process.
_INSTALLED = [False]


def lean_cache_loads() -> bool:
    """Install the lean refresh for cache loads (idempotent); True if it is active."""
    if _INSTALLED[0]:
        return True
    try:
        from numba.core import base, caching
        from numba.core.runtime import rtsys
        orig_load = caching.Cache.load_overload
        orig_refresh = base.BaseContext.refresh
    except (ImportError, AttributeError):
        return False

    def load_overload(self, sig, target_context):
        _DEPTH.n = getattr(_DEPTH, "n", 0) + 1
        try:
            return orig_load(self, sig, target_context)
        finally:
            _DEPTH.n -= 1

    def refresh(self):
        if getattr(_DEPTH, "n", 0):
            rtsys.initialize(self)
        else:
            orig_refresh(self)

    caching.Cache.load_overload = load_overload
    base.BaseContext.refresh = refresh
    _INSTALLED[0] = True
    return True
