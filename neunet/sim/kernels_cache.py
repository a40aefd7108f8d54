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

A cached library also carries the LLVM bitcode of everything it links, which numba parses at
load time only to learn the names of the symbols it defines and in case a later compile links
it in (~35 ms for the simulator's kernels). The lean load reads those names from the object
code's ELF symbol table instead, and parses the bitcode only when a compile asks for it. And
numba's typing of an array argument checks ``isinstance(a, np.ma.MaskedArray)``, which imports
numpy.ma (~25 ms); before numpy.ma is imported no masked array can exist, so the lean typing
skips the check until then. And each cached function's decoration checks that its cache
directory is writable by creating a temporary file there (~0.3 ms each, 70 kernels): the
lean check does that once per directory and process.
Applied once per process; a numba without the expected internals is left untouched.
"""
import hashlib
import struct
import sys
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
        _parse_bitcode_when_linked(codegen.CPUCodeLibrary)
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
        lib = _unserialize_object(cls, codegen_, state)
        return orig_unserialize(cls, codegen_, state) if lib is None else lib

    caching.Cache.load_overload = load_overload
    base.BaseContext.refresh = refresh
    codegen.CPUCodeLibrary._unserialize = classmethod(unserialize)
    _typeof_arrays_without_numpy_ma()
    _check_cache_dirs_once(caching._CacheLocator)
    _INSTALLED[0] = True
    return True


def _parse_bitcode_when_linked(library_class):
    """Make library_class parse a lean-loaded library's bitcode when a compile links it."""
    import llvmlite.binding as ll
    orig_linking = library_class._get_module_for_linking

    def module_for_linking(self):
        bitcode = self.__dict__.pop("_lazy_bitcode", None)
        if bitcode is not None:
            self._shared_module = ll.parse_bitcode(bitcode)
        return orig_linking(self)

    library_class._get_module_for_linking = module_for_linking


def _unserialize_object(cls, codegen_, state):
    """numba's unserialize of an object-code library without parsing its bitcode (kept
    for module_for_linking), or None where that does not apply (numba then does it)."""
    try:
        name, kind, (object_code, bitcode) = state
        engine = codegen_._engine
        defined = engine._defined_symbols
    except (TypeError, ValueError, AttributeError):
        return None
    names = elf_defined_symbols(object_code) if kind == "object" else None
    if not names:
        return None
    lib = codegen_.create_library(name)
    if not isinstance(lib, cls):
        return None
    lib.enable_object_caching()
    lib._set_compiled_object(object_code)
    lib._lazy_bitcode = bitcode
    lib._finalize_final_module()
    defined |= names
    return lib


def elf_defined_symbols(data):
    """Names of the symbols a little-endian ELF64 object file defines (functions, data;
    not sections or files), or None for any other format."""
    data = bytes(data)
    if data[:6] != b"\x7fELF\x02\x01":
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize)
                for k in range(shnum)]
    names = set()
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        strings = sections[sh[6]][4]
        for off in range(sh[4], sh[4] + sh[5], sh[9]):
            st_name, st_info, _other, st_shndx = struct.unpack_from("<IBBH", data, off)
            if st_shndx and st_name and (st_info & 0xF) not in _ELF_NOT_SYMBOLS:
                start = strings + st_name
                names.add(data[start:data.index(b"\0", start)].decode())
    return names


# ELF section type of a symbol table; symbol types that are no definitions (section, file).
_SHT_SYMTAB, _ELF_NOT_SYMBOLS = 2, (3, 4)


def _check_cache_dirs_once(locator_class):
    """Make numba's cache locators check a directory's writability once per process."""
    orig_ensure = locator_class.ensure_cache_path
    writable = set()

    def ensure_cache_path(self):
        path = self.get_cache_path()
        if path not in writable:
            orig_ensure(self)              # raises OSError if the directory is not usable
            writable.add(path)

    locator_class.ensure_cache_path = ensure_cache_path


def _typeof_arrays_without_numpy_ma():
    """Make numba type ndarray arguments without touching np.ma until numpy.ma is loaded."""
    try:
        import numpy as np
        from numba.core.typing import typeof as nb_typeof
        orig = nb_typeof._typeof_ndarray
    except (ImportError, AttributeError):
        return

    def typeof_ndarray(val, c):
        if "numpy.ma" in sys.modules:
            return orig(val, c)
        return _array_type(val)

    nb_typeof.typeof_impl.register(np.ndarray)(typeof_ndarray)


def _array_type(val):
    """numba's type of a (non-masked) ndarray, as numba.core.typing.typeof types it (those of
    native numeric arrays remembered: a kernel call types every array of its tuple arguments,
    and making a numba type object costs ~50 us)."""
    flags = val.flags
    key = (val.dtype, val.ndim, flags.c_contiguous, flags.f_contiguous, flags.writeable)
    found = _ARRAY_TYPES.get(key)
    if found is None:
        found = _new_array_type(val)
        if val.dtype.isbuiltin == 1:
            _ARRAY_TYPES[key] = found
    return found


# numba type of native numeric arrays by (dtype, ndim, C-, F-contiguous, writeable).
_ARRAY_TYPES = {}


def _new_array_type(val):
    """numba's type of a (non-masked) ndarray, made as numba.core.typing.typeof makes it."""
    from numba.core import errors, types
    from numba.np import numpy_support
    try:
        dtype = numpy_support.from_dtype(val.dtype)
    except errors.NumbaNotImplementedError:
        raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}") from None
    layout = numpy_support.map_layout(val)
    return types.Array(dtype, val.ndim, layout, readonly=not val.flags.writeable)


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
