"""Tests of neunet.store.npz: a task's .npz data file, written without zipfile."""
import numpy as np
import pytest

from neunet.store.digest import result_hash, result_hash_of_file
from neunet.store.npz import StoreError, decode_arrays, encode_arrays, ends_like_npz, npz_parts


def test_encode_decode_arrays_refuses_objects():
    data = encode_arrays({"a": np.arange(3.0), "b": np.zeros((2, 2), np.float32)})
    back = decode_arrays(data)
    assert np.array_equal(back["a"], np.arange(3.0)) and back["b"].dtype == np.float32
    with pytest.raises(StoreError, match="dtype object"):
        encode_arrays({"x": np.array([{}, None], dtype=object)})


def test_encode_arrays_writes_a_standard_npz_of_every_numeric_kind(tmp_path):
    import zipfile
    kept = {"volt": np.random.default_rng(3).normal(size=(3, 100)), "ras": np.zeros((0, 2)),
            "i": np.arange(5, dtype=np.int32), "b": np.array([True, False]),
            "f": np.asfortranarray(np.ones((2, 3))), "zero_d": np.array(7.5),
            "u": np.array(["ab", "c"]), "c": np.array([1 + 2j]), "big_endian": np.ones(3, ">f4")}
    data = encode_arrays(kept)
    assert data == b"".join(bytes(p) for p in npz_parts(kept))
    path = tmp_path / "x.npz"
    path.write_bytes(data)
    assert zipfile.ZipFile(path).testzip() is None  # CRCs and sizes right
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(kept)
        for name, arr in kept.items():
            assert npz[name].dtype == arr.dtype and npz[name].shape == arr.shape
            assert np.array_equal(npz[name], arr)
    assert result_hash_of_file({"r": 1.0}, path) == result_hash({"r": 1.0}, kept)
    assert decode_arrays(encode_arrays({})) == {}


def test_ends_like_npz_tells_complete_archives_from_truncated_ones(tmp_path):
    data = encode_arrays({"v": np.arange(10.0)})
    assert ends_like_npz(data) and ends_like_npz(memoryview(data))
    assert not ends_like_npz(data[:-3]) and not ends_like_npz(b"")
    path = tmp_path / "a.npz"
    path.write_bytes(data)
    assert ends_like_npz(path)
    path.write_bytes(data[:-1])
    assert not ends_like_npz(path) and not ends_like_npz(tmp_path / "missing.npz")


def test_memoized_headers_stay_right_for_every_dtype_and_shape():
    import io
    for _ in range(2):  # the second round takes every header from the memo
        for dtype in ([("a", "<f8")], [("b", "<f8")], "<f8", ">f8", "<i8"):
            for shape in ((3,), (1, 3), (3, 1)):
                arr = np.zeros(shape, dtype=dtype)
                back = decode_arrays(encode_arrays({"x": arr}))["x"]
                assert back.dtype == arr.dtype and back.shape == shape
                ref = io.BytesIO()
                np.lib.format.write_array(ref, arr)  # numpy's own .npy bytes
                assert ref.getvalue() in encode_arrays({"x": arr})
