"""IF-jump and IF-jump-delay kernels against a slow Python version written from the spec (8.7,
9.8, 9.9), run through the simulator on small random networks."""
import heapq
import math

import numpy as np
import pytest

from neunet.sim import simulate

# Leak conductance (1/ms) of IF-jump.
GL = 0.05


class PyIFJump:
    """The IF-jump neuron population, one neuron at a time in plain Python."""

    def __init__(self, n, thr, tref, t_spike0):
        self.v, self.tl, self.ts = [0.0] * n, [0.0] * n, [t_spike0] * n
        self.thr, self.tref = thr, tref

    def refractory(self, j, t):
        return t - self.ts[j] <= self.tref

    def kick(self, j, t, s):
        if self.tl[j] != t:
            self.v[j] *= math.exp(-(t - self.tl[j]) * GL)
            self.tl[j] = t
        if not self.refractory(j, t):
            self.v[j] += s

    def fires(self, j, t):
        if self.v[j] > self.thr:
            self.ts[j] = self.tl[j] = t
            self.v[j] = 0.0
            return True
        return False

    def grid(self, t):
        return [v * math.exp(-(t - tl) * GL) for v, tl in zip(self.v, self.tl)]


def kick_of(A, sc, nE, i, j):
    """Signed kick from j to i (scee, scie, -scei, -scii) times the weight."""
    if j < nE:
        return A[i][j] * (sc[0] if i < nE else sc[1])
    return -A[i][j] * (sc[2] if i < nE else sc[3])


def py_ifjump(pop, A, sc, nE, events, t_ends):
    """Spec 9.8: events in (time, id) order, cascades at the same instant."""
    n, spikes, rows, k = len(A), [], [], 0
    for t_end in t_ends:
        while k < len(events) and events[k][0] < t_end:
            t, j, s = events[k]
            k += 1
            pop.kick(j, t, s)
            wave = [j] if pop.fires(j, t) else []
            spikes += [(t, j)] if wave else []
            while wave:
                inc = {}
                for p in wave:
                    for i in range(n):
                        if A[i][p] and i != p:
                            inc[i] = inc.get(i, 0.0) + kick_of(A, sc, nE, i, p)
                wave = []
                for i in sorted(inc):
                    if not pop.refractory(i, t):
                        pop.kick(i, t, inc[i])
                        if pop.fires(i, t):
                            spikes.append((t, i))
                            wave.append(i)
        rows.append(pop.grid(t_end))
    return spikes, np.array(rows)


def py_ifjump_delay(pop, A, D, sc, nE, events, t_ends):
    """Spec 9.9: inputs and delayed kicks merged in time (delayed first), per-time batches."""
    n, spikes, rows, k, heap, seq = len(A), [], [], 0, [], 0
    for t_end in t_ends:
        while True:
            t_in = events[k][0] if k < len(events) and events[k][0] < t_end else math.inf
            t_q = heap[0][0] if heap and heap[0][0] <= t_end else math.inf
            if math.isinf(t_in) and math.isinf(t_q):
                break
            t, batch = min(t_q, t_in), []
            while heap and heap[0][0] == t:
                _, i, _, s = heapq.heappop(heap)
                batch.append([i, s])
            while k < len(events) and events[k][0] == t and t < t_end:
                batch.append([events[k][1], events[k][2]])
                k += 1
            merged = []
            for i, s in batch:
                if merged and merged[-1][0] == i:
                    merged[-1][1] += s
                else:
                    merged.append([i, s])
            for j, s in merged:
                pop.kick(j, t, s)
                if pop.fires(j, t):
                    spikes.append((t, j))
                    for i in range(n):
                        if A[i][j] and i != j:
                            heapq.heappush(heap, (t + D[i][j], i, seq, kick_of(A, sc, nE, i, j)))
                            seq += 1
        rows.append(pop.grid(t_end))
    return spikes, np.array(rows)


def _setup(tmp_path, seed, n=7, t=120.0):
    rng = np.random.default_rng(seed)
    A = (rng.random((n, n)) < 0.5) * rng.uniform(0.5, 1.5, (n, n))
    np.fill_diagonal(A, 0)
    ev = sorted((float(x), int(i), float(s)) for i, x, s in zip(
        rng.integers(0, n, 900), np.round(rng.uniform(0, t, 900), 3),
        rng.choice([0.35, 0.2, -0.1], 900)))
    ev += [(0.0, 0, 1.5)]                          # at t = 0: dropped only with quirks
    ev.sort(key=lambda e: (e[1], e[0]))            # the file: each neuron's events in order
    np.savetxt(tmp_path / "net.txt", A)
    with open(tmp_path / "ev.txt", "w") as f:
        f.writelines(f"{i + 1} {x!r} {s!r}\n" for x, i, s in ev)
    return A, sorted(ev), rng


SC = (0.3, 0.25, 0.4, 0.35)


def _args(tmp_path, n, t, dt, extra=()):
    return ["--neuron-model", "IF-jump", "--net", str(tmp_path / "net.txt"), "--nE", str(n - 2),
            "--nI", "2", "--t", str(t), "--dt", str(dt), "--scee", str(SC[0]),
            "--scie", str(SC[1]), "--scei", str(SC[2]), "--scii", str(SC[3]),
            "--input-event-path", str(tmp_path / "ev.txt"), *extra]


def _compare(out, spikes, rows):
    ras = out["ras"]
    assert [(t, int(i) - 1) for i, t in ras.tolist()] == spikes
    assert np.max(np.abs(out["volt"].T - rows)) < 1e-12


@pytest.mark.parametrize("quirks, tref", [(False, 0.0), (True, 0.0), (False, 1.5)])
def test_ifjump_matches_the_python_version(tmp_path, quirks, tref):
    n, t, dt = 7, 120.0, 0.5
    A, ev, _ = _setup(tmp_path, 3)
    pop = PyIFJump(n, 1.0, tref, 0.0 if quirks else -math.inf)
    spikes, rows = py_ifjump(pop, A, SC, n - 2, ev, np.cumsum(np.full(int(t / dt), dt)))
    extra = ["--refractory-time", str(tref)] + (["--reference-quirks"] if quirks else [])
    out = simulate(_args(tmp_path, n, t, dt, extra), outputs=("volt", "ras"))
    _compare(out, spikes, rows)
    assert len(spikes) > 20 and any(s[0] == 0.0 for s in spikes) != quirks


@pytest.mark.parametrize("delay", ["matrix", "constant"])
def test_ifjump_delay_matches_the_python_version(tmp_path, delay):
    n, t, dt = 7, 120.0, 0.5
    A, ev, rng = _setup(tmp_path, 4)
    D = np.where(A != 0, rng.uniform(0.0, 2.0, A.shape), 0.0)
    D[0, 3] = 0.0                                           # a zero delay: the same instant
    np.savetxt(tmp_path / "d.txt", D)
    if delay == "constant":
        D = np.full(A.shape, 0.75)
    spikes, rows = py_ifjump_delay(PyIFJump(n, 1.0, 0.0, -math.inf), A, D, SC, n - 2, ev,
                                   np.cumsum(np.full(int(t / dt), dt)))
    opt = (["--synaptic-net-delay", str(tmp_path / "d.txt")] if delay == "matrix"
           else ["--synaptic-delay", "0.75"])
    out = simulate(_args(tmp_path, n, t, dt, opt), outputs=("volt", "ras"))
    assert simulate(_args(tmp_path, n, t, dt, opt))["ras"].size    # auto picks IF-jump-delay
    _compare(out, spikes, rows)
    assert len(spikes) > 20


def test_ifjump_delay_heap_grows(tmp_path, monkeypatch):
    """A heap that starts nearly empty is enlarged mid-chunk with the same results."""
    from neunet.sim import engine_special
    n, t, dt = 7, 120.0, 0.5
    A, ev, rng = _setup(tmp_path, 5)
    np.savetxt(tmp_path / "d.txt", np.where(A != 0, rng.uniform(0.5, 30.0, A.shape), 0.0))
    args = _args(tmp_path, n, t, dt, ["--synaptic-net-delay", str(tmp_path / "d.txt")])
    big = simulate(args)
    monkeypatch.setattr(engine_special, "HEAP_START", 0)
    grown = []
    original = engine_special._grow_heap
    monkeypatch.setattr(engine_special, "_grow_heap",
                        lambda *a: (grown.append(a[1]), original(*a))[1])
    small = simulate(args)
    assert grown and np.array_equal(big["ras"], small["ras"])
    assert np.array_equal(big["volt"], small["volt"])


@pytest.mark.parametrize("delay", [False, True])
def test_ifjump_small_blocks_and_a_growing_raster(tmp_path, monkeypatch, delay):
    """Input events sorted a few at a time (blocks of a step or two) and a raster enlarged
    mid-chunk give the same results as one block and a large raster."""
    from neunet.sim import engine_network, engine_special
    n, t, dt = 7, 120.0, 0.5
    _setup(tmp_path, 6)
    args = _args(tmp_path, n, t, dt, ["--synaptic-delay", "0.75"] if delay else [])
    big = simulate(args)
    monkeypatch.setattr(engine_special, "BLOCK_EVENTS", 1)
    grown = []
    original = engine_network.Runner.grow_out
    monkeypatch.setattr(engine_network.Runner, "grow_out",
                        lambda self, *a: (grown.append(a), original(self, *a))[1])
    small = simulate(args)
    assert any(n_out > 0 for n_out, *_ in grown)          # enlarged mid-chunk
    assert np.array_equal(big["ras"], small["ras"]) and np.array_equal(big["volt"], small["volt"])
