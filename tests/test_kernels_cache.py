"""Tests of neunet.sim.kernels_cache: lean loads of cached numba functions, in fresh processes.

The lean loads skip numba's compile-only set-up and initialize the NRT runtime only for
libraries that name it; a cached function that allocates (needs the runtime) must still load
and run, and a cache miss must still compile normally.
"""
import subprocess
import sys
import textwrap

import pytest

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


# Program run in a fresh process: a cached function loads lean (no bitcode parsed, no
# numpy.ma), then a new function that calls it compiles, which links the cached library.
LINK_PROGRAM = textwrap.dedent("""
    import sys
    import numpy as np
    from numba import njit
    from neunet.sim.kernels_cache import lean_cache_loads
    assert lean_cache_loads()
    import usermod
    a = np.arange(4.0)
    print(usermod.total(a), usermod.total.stats.cache_hits.total() > 0,
          "numpy.ma" in sys.modules)
    lib = usermod.total.overloads[usermod.total.signatures[0]].library
    print(hasattr(lib, "_lazy_bitcode"))

    @njit
    def twice(x):
        return 2.0 * usermod.total(x)
    print(twice(a), hasattr(lib, "_lazy_bitcode"))
    import numpy.ma

    @njit
    def size(x):
        return x.size
    try:
        size(numpy.ma.masked_array(a))
    except Exception as e:
        print(type(e).__name__)
""")


def test_lean_load_parses_bitcode_only_when_a_compile_links_it(tmp_path):
    """The lean load skips the bitcode and numpy.ma; a compile that links the cached
    function parses it then and works; a masked array is still refused once numpy.ma
    exists."""
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    _run(tmp_path)                                   # compile and cache usermod
    r = subprocess.run([sys.executable, "-c", LINK_PROGRAM], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["6.0", "True", "False", "True", "12.0", "False",
                                "NumbaTypeError"]


def test_elf_symbols_are_the_bitcode_definitions(tmp_path, monkeypatch):
    """The names read from a cached library's object code are those numba reads from its
    bitcode (what a cache load must register); non-ELF data gives None."""
    import importlib

    import llvmlite.binding as ll

    from neunet.sim.kernels_cache import elf_defined_symbols
    (tmp_path / "elfmod.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("elfmod")
    mod.ones(3)
    lib = mod.ones.overloads[mod.ones.signatures[0]].library
    _name, kind, (obj, bitcode) = lib.serialize_using_object_code()
    llmod = ll.parse_bitcode(bitcode)
    defined = {g.name for gs in (llmod.functions, llmod.global_variables) for g in gs
               if not g.is_declaration}
    assert kind == "object" and elf_defined_symbols(obj) == defined and len(defined) > 1
    assert elf_defined_symbols(b"\xcf\xfa\xed\xfe" + bytes(60)) is None


# Program run in a fresh process: count the writability probes of the cache directory.
PROBE_PROGRAM = textwrap.dedent("""
    import tempfile
    from neunet.sim.kernels_cache import lean_cache_loads
    assert lean_cache_loads()
    probes = []
    real = tempfile.TemporaryFile
    tempfile.TemporaryFile = lambda *a, **k: probes.append(k.get("dir")) or real(*a, **k)
    import usermod
    print(len(probes), usermod.total(usermod.ones(2)))
""")


def test_the_cache_directory_is_probed_once_per_process(tmp_path):
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    r = subprocess.run([sys.executable, "-c", PROBE_PROGRAM], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "4.0"]        # two cached functions, one probe


def test_lean_array_types_are_numbas():
    """The lean typing of arrays (remembered per dtype, ndim, layout, writeability) gives
    exactly numba's own types, layouts and read-only flags included."""
    import numpy as np
    import numpy.ma  # with it loaded, numba.typeof takes numba's own path
    from numba import typeof
    from numba.core.errors import NumbaValueError

    from neunet.sim.kernels_cache import _array_type
    a = np.zeros((4, 6))
    readonly = np.arange(5)
    readonly.flags.writeable = False
    arrays = [a, a.T, a[:, ::2], a[1], np.zeros(3, np.int8), readonly,
              np.zeros(2, [("x", "f8"), ("y", "i4")]), np.zeros((2, 2, 2), np.complex128)]
    for x in arrays + arrays:                           # the second time from the memo
        assert _array_type(x) == typeof(x), x.dtype
    with pytest.raises(NumbaValueError, match="Unsupported array dtype"):
        _array_type(np.zeros(3, ">f8"))                 # as numba refuses it
