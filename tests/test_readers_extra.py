"""neunet.sim.readers_extra: delay matrices, per-neuron constants and forced-spike lists."""
import numpy as np
import pytest

from neunet.sim.options import SimInputError
from neunet.sim.readers import read_net
from neunet.sim.readers_extra import (
    read_delay_net,
    read_force_list,
    read_neuron_consts,
    read_tau_g,
)

# Net of 3 neurons: 1 -> 2, 1 -> 3, 3 -> 1 (A[i][j]: from j to i).
NET = "0 0 1\n1 0 0\n1 0 0\n"


@pytest.fixture
def net3(tmp_path):
    p = tmp_path / "net.txt"
    p.write_text(NET)
    return read_net(str(p), 3)


def test_full_delay_matrix_follows_the_net_edges(tmp_path, net3):
    ptr, idx, _ = net3
    p = tmp_path / "d.txt"
    p.write_text("9 9 0.7\n0.5 9 9\n0.6 9 9\n")      # entries off the net are ignored
    d = read_delay_net(str(p), 3, ptr, idx, 0.1, "test")
    pre = np.repeat(np.arange(3), np.diff(ptr))
    assert {(int(j), int(i)): float(v) for j, i, v in zip(pre, idx, d)} == {
        (0, 1): 0.5, (0, 2): 0.6, (2, 0): 0.7}
    p.write_text("# delays, full matrix\n9 9 0.7\n0.5 9 9\n0.6 9 9\n")
    assert np.array_equal(read_delay_net(str(p), 3, ptr, idx, 0.1, "test"), d)


def test_sparse_delay_file_missing_entries_are_zero(tmp_path, net3):
    ptr, idx, _ = net3
    p = tmp_path / "d.txt"
    p.write_text("% Sparse delays\n2 1 0.5\n1 3 0.7\n2 1 0.9\n3 3 5\n")
    d = read_delay_net(str(p), 3, ptr, idx, -np.inf, "test")
    assert sorted(d.tolist()) == [0.0, 0.7, 0.9]       # the last of a repeated entry counts
    with pytest.raises(SimInputError, match=r"delay 0 of the edge 1 -> 3 is below 0.5 ms"):
        read_delay_net(str(p), 3, ptr, idx, 0.5, "test")


@pytest.mark.parametrize("text, message", [
    ("1 2\n3 4\n", "has 4 numbers, expected n\\*n = 9"),
    ("# sparse\n1 2\n", "needs 'i j delay' lines"),
    ("# sparse\n4 1 0.5\n", "outside 1..3"),
    ("1 x 3\n", "not a number"),
])
def test_bad_delay_files(tmp_path, net3, text, message):
    p = tmp_path / "d.txt"
    p.write_text(text)
    with pytest.raises(SimInputError, match=message):
        read_delay_net(str(p), 3, net3[0], net3[1], 0.0, "test")


def test_tau_g_and_neuron_constants(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("0.5 2 0.8 5\n0.4 3 0.7 6\n")
    assert np.array_equal(read_tau_g(str(p), 2), [[0.5, 2, 0.8, 5], [0.4, 3, 0.7, 6]])
    with pytest.raises(SimInputError, match="expected 4 per neuron"):
        read_tau_g(str(p), 3)
    p.write_text("0.5 0.5 0.8 5\n")
    with pytest.raises(SimInputError, match=r"neuron 1 has tau_gE 0\.5 and tau_gE_s1 0\.5"):
        read_tau_g(str(p), 1)
    names = ("a", "tau_gE", "tau_gE_s1", "tau_gI", "tau_gI_s1")
    p.write_text("1 2 0.5 5 0.8\n")
    assert read_neuron_consts(str(p), 1, names).shape == (1, 5)
    with pytest.raises(SimInputError, match=r"expected 5 per neuron \(a tau_gE"):
        read_neuron_consts(str(p), 2, names)


def test_force_list(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("2 1.5\n1 0.5\n")
    ids, times = read_force_list(str(p), 2, require_order=False)
    assert ids.tolist() == [1, 0] and times.tolist() == [1.5, 0.5]
    with pytest.raises(SimInputError, match=r"entry 2 \(time 0\.5\) comes before"):
        read_force_list(str(p), 2, require_order=True)
    p.write_text("3 1.5\n")
    with pytest.raises(SimInputError, match=r"neuron id 3, outside 1\.\.2"):
        read_force_list(str(p), 2, require_order=True)
    p.write_text("1 1.5 2\n")
    with pytest.raises(SimInputError, match="odd count"):
        read_force_list(str(p), 2, require_order=True)
