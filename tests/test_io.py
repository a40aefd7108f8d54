"""neunet.sim.io: output text and byte layouts, the file and array sinks."""
import numpy as np
import pytest

from neunet.sim import io
from neunet.sim.options import SimInputError


def test_text_layouts():
    assert io.format_ras(np.array([0, 1]), np.array([0.86217929805074178, 1.0])) == \
        "1\t0.86217929805074178\n2\t1\n"
    assert io.format_isi(20.0, np.array([7, 0])) == "2.8571428571428572\tinf\t"
    assert io.format_events(np.array([2]), np.array([0.5]), np.array([-0.05])) == \
        "3\t0.5\t-0.050000000000000003\n"


def test_file_sink_streams_binary_rows_and_text(tmp_path):
    paths = {k: str(tmp_path / "sub" / f"{k}.out")
             for k in ("volt", "ras", "isi", "conductance", "ion_gate", "poisson")}
    sink = io.FileSink(paths, t_ms=10.0)
    sink.samples(np.array([[1.0, 2.0]]), np.array([[0.1, 0.2, 0.3, 0.4]]), None)
    assert np.fromfile(paths["volt"], "<f8").tolist() == [1.0, 2.0]   # flushed at once
    sink.samples(np.array([[3.0, 4.0]]), np.array([[0.5, 0.6, 0.7, 0.8]]), None)
    sink.spikes(np.array([1]), np.array([2.5]))
    sink.events(np.array([0]), np.array([0.25]), np.array([0.1]))
    sink.finish(np.array([4, 0]))
    sink.close()
    assert np.fromfile(paths["volt"], "<f8").tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.fromfile(paths["conductance"], "<f8").size == 8
    assert open(paths["ion_gate"], "rb").read() == b""
    assert open(paths["ras"]).read() == "2\t2.5\n"
    assert open(paths["isi"]).read() == "2.5\tinf\t"
    assert open(paths["poisson"]).read() == "1\t0.25\t0.10000000000000001\n"


def test_file_sink_unwritable_path_is_input_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(SimInputError, match="cannot write output file"):
        io.FileSink({"volt": str(tmp_path / "file" / "v.dat")}, 1.0)


def test_array_sink_shapes():
    sink = io.ArraySink(2, 10.0, ("volt", "ras", "isi", "conductance", "ion_gate", "poisson"))
    for k in range(3):
        sink.samples(np.array([[k, 10.0 + k]]),
                     np.array([[k, -k, 10 + k, -10 - k]], float),
                     np.arange(6, dtype=float)[None, :] + k)
    sink.spikes(np.array([1, 0]), np.array([0.5, 0.7]))
    sink.events(np.array([0]), np.array([0.25]), np.array([-0.1]))
    sink.finish(np.array([0, 5]))
    r = sink.result()
    assert r["volt"].tolist() == [[0, 1, 2], [10, 11, 12]]
    assert r["conductance"].shape == (2, 2, 3)
    assert r["conductance"][1, 1].tolist() == [-10, -11, -12]
    assert r["ion_gate"].shape == (2, 3, 3) and r["ion_gate"][1, :, 0].tolist() == [3, 4, 5]
    assert r["ras"].tolist() == [[2, 0.5], [1, 0.7]]
    assert r["isi"].tolist() == [np.inf, 2.0]
    assert r["poisson"].tolist() == [[1, 0.25, -0.1]]
    empty = io.ArraySink(2, 1.0, ("volt", "ras"))
    empty.finish(np.zeros(2, np.int64))
    assert empty.result()["volt"].shape == (2, 0) and empty.result()["ras"].shape == (0, 2)
