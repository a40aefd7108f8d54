"""neunet.sim.readers: network/event/initial-state readers and the file event source."""
import numpy as np
import pytest

from neunet.sim import readers
from neunet.sim.options import SimInputError


def edges(csr):
    """(post, pre) -> weight from CSR by pre (1-based like the files)."""
    ptr, idx, w = csr
    return {(int(idx[k]) + 1, j + 1): float(w[k])
            for j in range(ptr.size - 1) for k in range(ptr[j], ptr[j + 1])}


def test_all_to_all_and_ring():
    ring = [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]
    assert sorted(edges(readers.read_net("-", 3))) == ring
    assert edges(readers.read_net("--", 3)) == {(2, 1): 1.0, (3, 2): 1.0, (1, 3): 1.0}
    assert edges(readers.read_net("--", 1)) == {} and edges(readers.read_net("-", 1)) == {}


def test_full_matrix_orientation_and_dropping(tmp_path):
    f = tmp_path / "net.txt"
    f.write_text("0 1\n0 0\n")                # row i, column j: from j to i
    assert edges(readers.read_net(str(f), 2)) == {(1, 2): 1.0}
    f.write_text("5 2.5 nan\n0 1 inf\n1e-3\n0 0")   # diagonal, nan, inf, zero dropped
    e = edges(readers.read_net(str(f), 3))
    assert e == {(1, 2): 2.5, (3, 1): 1e-3}
    f.write_text("0 1 1")
    with pytest.raises(SimInputError, match="has 3 numbers, expected n\\*n = 4"):
        readers.read_net(str(f), 2)
    f.write_text("0 1 x 0")
    with pytest.raises(SimInputError, match="bad number 'x'"):
        readers.read_net(str(f), 2)


def test_sparse_sums_duplicates_and_names_bad_lines(tmp_path):
    f = tmp_path / "net.txt"
    f.write_text("% header i j a\n2 1 1\n2 1 2\n1 1 7\n\n3 2 0.5\n1 3 0\n")
    assert edges(readers.read_net(str(f), 3, sparse=True)) == {(2, 1): 3.0, (3, 2): 0.5}
    f.write_text("2 1 1\n4 1 1\n")
    with pytest.raises(SimInputError, match=r"net.txt:2: neuron index 4 outside 1..3"):
        readers.read_net(str(f), 3, sparse=True)
    f.write_text("# h\n2 1 1\n2 1\n")
    with pytest.raises(SimInputError, match=r"net.txt:3: expected 'i j a'"):
        readers.read_net(str(f), 3, sparse=True)
    f.write_text("2 1 1\n2 x 1\n")
    with pytest.raises(SimInputError, match=r"net.txt:2: bad number 'x'"):
        readers.read_net(str(f), 3, sparse=True)
    with pytest.raises(SimInputError, match="not found"):
        readers.read_net(str(tmp_path / "missing"), 3)


def py_sparse(text, n):
    """(post, pre) -> summed weight (file order) of a sparse file, the dropping rules applied,
    parsed line by line in plain Python."""
    lines = text.splitlines()
    if lines and lines[0].lstrip()[:1] in ("#", "%"):
        lines = lines[1:]
    sums = {}
    for line in lines:
        if line.split():
            i, j, a = line.split()
            key = (int(float(i)), int(float(j)))
            sums[key] = sums.get(key, 0.0) + float(a)
    return {k: a for k, a in sums.items() if k[0] != k[1] and np.isfinite(a) and a != 0}


@pytest.mark.parametrize("weight", ["int", "float", "exponent", "huge"])
@pytest.mark.parametrize("form", ["plain", "header", "crlf", "blank"])
def test_sparse_fast_path_matches_a_line_by_line_read(tmp_path, weight, form):
    rng = np.random.default_rng(7)
    n, m = 40, 600
    ids = rng.integers(1, n + 1, (m, 2))      # duplicates and diagonal entries included
    w = {"int": rng.integers(-3, 4, m).astype(str),
         "float": [repr(float(x)) for x in rng.normal(size=m)],
         "exponent": [f"{x:.6e}" for x in rng.normal(size=m)],
         "huge": rng.choice(["1", "-2", "36028797018963971", "0"], m)}[weight]
    lines = [f"{i}\t{j} {a}" for (i, j), a in zip(ids.tolist(), w)]
    if form == "blank":
        lines[5:5] = ["", "  "]
    text = {"header": "% i j a\n", "crlf": ""}.get(form, "") + "\n".join(lines) + "\n"
    f = tmp_path / "net.txt"
    f.write_bytes(text.replace("\n", "\r\n").encode() if form == "crlf" else text.encode())
    assert readers._plain_sparse(f.read_bytes(), n) is not None      # the fast path read it
    assert edges(readers.read_net(str(f), n, sparse=True)) == py_sparse(text, n)


@pytest.mark.parametrize("text, message", [
    ("2 1 1\n3 1-2\n", r"net.txt:2: expected 'i j a'"),   # '1-2' parses as two numbers
    ("2 1 1\n3 2\n1 3 1 1\n", r"net.txt:2: expected 'i j a'"),  # ragged, 9 numbers
    ("2 1 1\n2.5 1 1\n", r"net.txt:2: bad number '2.5'"),
    ("2 1 1\n3 1 1e\n", r"net.txt:2: bad number '1e'"),
    ("2 1 1\n3 1 -\n", r"net.txt:2: bad number '-'")])     # numpy's integer parse: 0
def test_sparse_unusual_files_take_the_line_path(tmp_path, text, message):
    f = tmp_path / "net.txt"
    f.write_bytes(text.encode())
    with pytest.raises(SimInputError, match=message):
        readers.read_net(str(f), 3, sparse=True)


def test_events_default_strength_and_checks(tmp_path):
    f = tmp_path / "ev.txt"
    f.write_text("2 1.0 2.0\n1 0.5\n1 0.7 -0.3\n2 1.5\n")
    ids, times, strengths = readers.read_events(str(f), 2, [0.011, 0.022])
    assert ids.tolist() == [1, 0, 0, 1]
    assert times.tolist() == [1.0, 0.5, 0.7, 1.5]
    assert strengths.tolist() == [2.0, 0.011, -0.3, 0.022]
    for text, message in [("1 0.5\n\n1 0.7\n", r"ev.txt:2: blank line"),
                          ("# comment\n", r"ev.txt:1: comment line"),
                          ("1 0.5\n3 0.7\n", r"ev.txt:2: neuron id 3 outside 1..2"),
                          ("0 0.5\n", r"ev.txt:1: neuron id 0"),
                          ("1 0.5 x\n", r"ev.txt:1: bad number 'x'"),
                          ("1.0 0.5\n", r"ev.txt:1: bad number '1.0'"),
                          ("1 nan\n", r"ev.txt:1: time and strength must be finite"),
                          ("1 0.5\n2 0.1\n1 0.4\n", r"ev.txt:3: events of neuron 1 are not"),
                          ("1 0.5 1 1\n", r"ev.txt:1: expected 2 to 3")]:
        f.write_text(text)
        with pytest.raises(SimInputError, match=message):
            readers.read_events(str(f), 2, [0.0, 0.0])


def test_file_event_source_chunks_and_output_order():
    ids = np.array([1, 0, 0, 1, 0])
    times = np.array([0.1, 0.2, 0.25, 0.3, 1.0])
    strengths = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    seen = []
    src = readers.FileEventSource(2, ids, times, strengths, on_events=lambda *a: seen.append(a))
    ptr, t, s = src.take(np.array([0.25, 0.5]))
    assert ptr.tolist() == [0, 2, 4]
    assert t.tolist() == [0.2, 0.25, 0.1, 0.3] and s.tolist() == [2.0, 3.0, 1.0, 4.0]
    # output order: step (t < 0.25: ids 1, 0), then step 2 (0.25 of neuron 0, 0.3 of 1)
    out_ids, out_t, _ = seen[0]
    assert out_ids.tolist() == [0, 1, 0, 1] and out_t.tolist() == [0.2, 0.1, 0.25, 0.3]
    ptr, t, _ = src.take(np.array([0.75, 1.0]))   # an event at exactly the end stays
    assert ptr.tolist() == [0, 0, 0]
    ptr, t, _ = src.take(np.array([1.25]))
    assert ptr.tolist() == [0, 1, 1] and t.tolist() == [1.0]


def test_initial_state(tmp_path):
    f = tmp_path / "init.txt"
    f.write_text("1 2 3\n4 5 6\n")
    assert readers.read_initial_state(str(f), 2, 3).tolist() == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(SimInputError, match="has 6 numbers, expected 3 neurons x 3"):
        readers.read_initial_state(str(f), 3, 3)


def test_event_fast_path_agrees_with_slow_path(tmp_path):
    f = tmp_path / "ev.txt"
    rows = "2\t1.0\t2.0\n1\t0.5\t0.1\n1\t0.7\t-0.3\n"
    f.write_text(rows)                                   # 3 columns: numpy's parser
    fast = readers.read_events(str(f), 2, [0.0, 0.0])
    f.write_text(rows + "2 1.5\n")                       # a 2-column line: line-by-line path
    slow = readers.read_events(str(f), 2, [0.0, 9.0])
    for a, b in zip(fast, slow):
        assert a.tolist() == b[:3].tolist()
    assert slow[2][3] == 9.0
    f.write_text("1 0.5 1\n1 0.7 1\n1 0.6 1\n")
    with pytest.raises(SimInputError, match=r"ev.txt:3: events of neuron 1 are not"):
        readers.read_events(str(f), 1, [0.0])
    f.write_text("1 0.5 1\n5 0.7 1\n")
    with pytest.raises(SimInputError, match=r"ev.txt:2: neuron id 5 outside"):
        readers.read_events(str(f), 1, [0.0])
    f.write_text("")
    assert readers.read_events(str(f), 1, [0.0])[0].size == 0
