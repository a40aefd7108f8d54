"""A stored result's fingerprint (neunet.store.digest): summary and arrays, in memory or a file."""
from neunet.store import digest


def test_result_hash_sees_summary_and_arrays():
    import numpy as np
    h = digest.result_hash({"r": 1.0}, {"ras": np.zeros((2, 2))})
    assert h == digest.result_hash({"r": np.float64(1.0)}, {"ras": np.zeros((2, 2))})
    assert h != digest.result_hash({"r": 1.5}, {"ras": np.zeros((2, 2))})
    assert h != digest.result_hash({"r": 1.0}, {"ras": np.ones((2, 2))})
    assert digest.result_hash({}, None) == digest.result_hash({}, {})


def test_result_hash_of_a_file_equals_the_hash_of_its_loaded_arrays(tmp_path):
    import numpy as np

    from neunet.store.npz import decode_arrays, encode_arrays
    arrays = {"volt": np.linspace(0, 1, 3000).reshape(3, 1000), "ras": np.arange(7),
              "ok": np.array([True, False]), "one": np.array(2.5), "none": np.zeros((0, 2)),
              "names": np.array(["a", "bc"]), "late": np.asfortranarray(np.ones((3, 2)))}
    path = tmp_path / "r.npz"
    path.write_bytes(encode_arrays(arrays))
    summary = {"rate": 3.0, "cv": None}
    expected = digest.result_hash(summary, decode_arrays(path))
    assert digest.result_hash_of_file(summary, path) == expected
    assert digest.result_hash_of_file({"rate": 3.5}, path) != expected


def test_hashing_a_file_that_holds_a_pickle_never_unpickles_it(tmp_path):
    import numpy as np
    import pytest

    class Touch:
        def __reduce__(self):
            return (open, (str(tmp_path / "unpickled"), "w"))

    np.savez(tmp_path / "p.npz", x=np.array([Touch()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        digest.result_hash_of_file({}, tmp_path / "p.npz")
    assert not (tmp_path / "unpickled").exists()
