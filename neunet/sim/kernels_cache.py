"""Cheap start-up: load the kernels from numba's cache without numba's compile-only registries.

Before loading any cached function numba refreshes its CPU target context, and the first
refresh imports about 40 modules of implementations (numba.np.arraymath, linalg, typed
containers, jitclass, ... and, through linalg, SciPy), installs the builtin lowering registry
and refreshes the typing context (~1000 templates): ~0.25 s that only *compiling* needs. A
cached function needs at most the NRT runtime, and initializing that compiles its LLVM
module (~25 ms). ``lean_cache_loads()`` makes the refresh done inside a cache load do
nothing, and initializes the runtime just before a cached library is linked if that library
names any NRT symbol (the simulator's kernels allocate nothing and name none); a real compile
(cache miss) still refreshes the context fully, since numba's compiler refreshes it itself
before typing anything.
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
        from numba.core import base, caching, codegen
        from numba.core.runtime import rtsys
        orig_load = caching.Cache.load_overload
        orig_refresh = base.BaseContext.refresh
        orig_unserialize = codegen.CPUCodeLibrary._unserialize.__func__
    except (ImportError, AttributeError):
        return False

    def load_overload(self, sig, target_context):
        _DEPTH.n = getattr(_DEPTH, "n", 0) + 1
        try:
            return orig_load(self, sig, target_context)
        finally:
            _DEPTH.n -= 1

    def refresh(self):
        if not getattr(_DEPTH, "n", 0):
            orig_refresh(self)

    def unserialize(cls, codegen_, state):
        if _names_nrt(state):
            from numba.core.registry import cpu_target
            rtsys.initialize(cpu_target.target_context)
        return orig_unserialize(cls, codegen_, state)

    caching.Cache.load_overload = load_overload
    base.BaseContext.refresh = refresh
    codegen.CPUCodeLibrary._unserialize = classmethod(unserialize)
    _INSTALLED[0] = True
    return True


def _names_nrt(state) -> bool:
    """True unless a serialized code library surely references no NRT symbol.

    Its object code and bitcode hold every referenced symbol's name in their string tables,
    so a library without the bytes ``NRT`` in them cannot need the runtime.
    """
    try:
        _name, _kind, data = state
        parts = data if isinstance(data, tuple) else (data,)
        return any(b"NRT" in bytes(part) for part in parts)
    except (TypeError, ValueError):
        return True
