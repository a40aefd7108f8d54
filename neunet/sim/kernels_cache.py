"""The kernels' numba cache: stale-cache detection, and cheap loads without compile-only registries.

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
import hashlib
import threading
from pathlib import Path

# Per-thread depth of cache loads in progress (lean refreshes only inside them).
_DEPTH = threading.local()
# Whether the patch is installed in this process.
_INSTALLED = [False]
# Whether this process has checked the kernels' numba cache against their sources.
_CHECKED = [False]


def prepare_kernel_loads() -> None:
    """Once per process, before the first kernel call: drop a stale cache, go lean."""
    if not _CHECKED[0]:
        _refresh_kernel_cache()
        lean_cache_loads()
        _CHECKED[0] = True




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


def _refresh_kernel_cache() -> None:
    """Drop stale numba cache files of the kernels.

    numba's on-disk cache of a function only tracks the file the function is defined in, not
    the kernels it inlines from other files; after an edit of any kernels_*.py or rng.py
    (development),
    cached callers would keep the old code. A hash of all kernel sources, stored next to the
    cache, detects that and removes the kernels' cache files (numba then recompiles).
    """
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for src in sorted([*here.glob("kernels_*.py"), here / "rng.py"]):
        digest.update(src.read_bytes())
    cache_dir, stamp = here / "__pycache__", digest.hexdigest()
    stamp_file = cache_dir / "kernels.sha256"
    try:
        if stamp_file.read_text() == stamp:
            return
    except OSError:
        pass
    try:
        for f in list(cache_dir.glob("kernels_*.nbi")) + list(cache_dir.glob("kernels_*.nbc")):
            f.unlink(missing_ok=True)
        cache_dir.mkdir(exist_ok=True)
        stamp_file.write_text(stamp)
    except OSError:
        pass                         # read-only install: the cache cannot be stale there
