"""neunet.sim.rng: MT19937 seeding, the exponential draw and gen_neu's event order (spec 6)."""
import math

import numpy as np
import pytest

from neunet.sim import rng

DT = 0.03125


def step_ends(n_steps, dt=DT):
    """Step end times by repeated addition, as the engine computes them."""
    t, out = 0.0, []
    for _ in range(n_steps):
        t += dt
        out.append(t)
    return np.array(out)


def test_legacy_seed_matches_numpy_randomstate():
    bg = np.random.MT19937()
    bg._legacy_seeding(1)
    # 2000 outputs cross several regenerations of the 624-word state
    assert np.array_equal(bg.random_raw(2000), rng.mt_raw(rng.mt_legacy_state(1), 2000))
    assert np.array_equal(np.random.RandomState(12345).randint(0, 2**32, 5, dtype=np.uint64),
                          rng.mt_raw(rng.mt_legacy_state(12345), 5))


def test_seed_seq_matches_libstdcxx():
    # std::seed_seq{7, 42} / {1} fed to std::mt19937, outputs from g++ (libstdc++)
    got = rng.mt_raw(rng.mt_seed_seq_state(np.array([7, 42])), 5)
    assert got.tolist() == [2776752164, 605934632, 3091700291, 2280205379, 762781361]
    assert rng.mt_raw(rng.mt_seed_seq_state(np.array([1])), 1).tolist() == [853323747]


def test_v8_first_events_without_seed_and_with_seed_1():
    src = rng.PoissonSource([1.0], [0.0], [0.01], [0.0], seed=None)
    _, t, s = src.take(step_ends(320))
    assert "%.17g" % t[0] == "5.8727248954712472"
    assert "%.17g" % t[1] == "8.5692027359048488"
    assert np.all(s == 0.01)
    src = rng.PoissonSource([1.0], [0.0], [0.01], [0.0], seed=(1,))
    _, t, _ = src.take(step_ends(320))
    assert "%.15g" % t[0] == "0.816319495618133"


def test_v8_three_neuron_run_has_189_events():
    src = rng.PoissonSource([1, 2, 0.5], [0.3, 0, 0.2], [0.01, 0.02, 0.03], [0.05] * 3,
                            seed=(7, 42))
    ptr, times, strengths = src.take(step_ends(1600))   # --t 50
    assert ptr.tolist() == [0, 70, 162, 189]
    assert set(strengths[ptr[0]:ptr[1]].tolist()) == {0.01, -0.05}
    assert set(strengths[ptr[1]:ptr[2]].tolist()) == {0.02}


class _SpecModel:
    """Straight transcription of spec 6.2/6.3 on numpy's MT19937 (legacy seed 1)."""

    def __init__(self, pr, pri, ps, psi):
        self.bg = np.random.MT19937()
        self.bg._legacy_seeding(1)
        self.pr, self.pri, self.ps, self.psi = pr, pri, ps, psi
        n = len(pr)
        self.next = [[math.inf, math.inf] for _ in range(n)]
        self.queue = [[] for _ in range(n)]
        for j in range(n):
            if pr[j] > 0:
                self.next[j][0] = self.draw(pr[j])
            if pri[j] > 0:
                self.next[j][1] = self.draw(pri[j])
            if pr[j] > 0 or pri[j] > 0:
                self.push(j)

    def draw(self, rate):
        a, b = (float(x) for x in self.bg.random_raw(2))
        return -math.log(1.0 - (a + b * 2.0**32) / 2.0**64) / rate

    def push(self, j):
        e, i = self.next[j]
        if e < i:
            self.queue[j].append((e, self.ps[j]))
            self.next[j][0] = e + self.draw(self.pr[j])
        else:
            self.queue[j].append((i, -self.psi[j]))
            self.next[j][1] = i + self.draw(self.pri[j])

    def run(self, t_ends):
        out = []
        for t_end in t_ends:
            for j, q in enumerate(self.queue):
                while q and q[0][0] < t_end:
                    out.append((j, *q.pop(0)))
                    if not q:
                        for _ in range(12):
                            self.push(j)
        return out


def test_event_order_matches_spec_transcription_in_chunks():
    pr, pri = [1.0, 0.0, 3.0, 0.7], [0.5, 0.0, 0.0, 2.0]
    ps, psi = [0.1, 0.2, 0.3, 0.4], [0.05, 0.06, 0.07, 0.08]
    t_ends = step_ends(3200)
    want = _SpecModel(pr, pri, ps, psi).run(t_ends)
    got = []
    src = rng.PoissonSource(pr, pri, ps, psi, seed=None,
                            on_events=lambda i, t, s: got.extend(zip(i.tolist(), t.tolist(),
                                                                     s.tolist())))
    for chunk in np.array_split(t_ends, 7):
        ptr, times, _ = src.take(chunk)
        assert np.all(times < chunk[-1])
        for j in range(4):
            assert np.all(np.diff(times[ptr[j]:ptr[j + 1]]) >= 0)
    assert got == want
    assert len(want) > 500 and not any(j == 1 for j, _, _ in want)


def test_chunking_does_not_change_events():
    t_ends = step_ends(2000)
    one = rng.PoissonSource([2.0, 1.0], [1.0, 0.5], [0.1, 0.1], [0.2, 0.2], seed=(3, 4))
    many = rng.PoissonSource([2.0, 1.0], [1.0, 0.5], [0.1, 0.1], [0.2, 0.2], seed=(3, 4))
    ptr1, t1, s1 = one.take(t_ends)
    parts = [many.take(c) for c in np.array_split(t_ends, 13)]
    for j in range(2):
        tj = np.concatenate([t[p[j]:p[j + 1]] for p, t, _ in parts])
        sj = np.concatenate([s[p[j]:p[j + 1]] for p, _, s in parts])
        assert np.array_equal(tj, t1[ptr1[j]:ptr1[j + 1]])
        assert np.array_equal(sj, s1[ptr1[j]:ptr1[j + 1]])


def test_tie_takes_inhibitory_event_first():
    mt = rng.mt_legacy_state(1)
    one = np.ones(1)
    next_t = np.array([[2.0, 2.0]])
    q_t, q_s, q_len = np.zeros((1, 12)), np.zeros((1, 12)), np.zeros(1, np.int64)
    rng._refill(mt, 0, one, one, one * 0.1, one * 0.2, next_t, q_t, q_s, q_len, 1)
    assert (q_t[0, 0], q_s[0, 0]) == (2.0, -0.2)
    assert next_t[0, 0] == 2.0 and next_t[0, 1] > 2.0


def test_zero_rates_draw_nothing():
    src = rng.PoissonSource([0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0])
    ptr, times, _ = src.take(step_ends(100))
    assert ptr.tolist() == [0, 0, 0] and times.size == 0
    fresh = rng.mt_legacy_state(1)
    assert np.array_equal(src._mt, fresh)


@pytest.mark.parametrize("rate", [0.5, 4.0])
def test_interval_statistics(rate):
    src = rng.PoissonSource([rate], [0.0], [1.0], [0.0], seed=(11,))
    _, times, _ = src.take(step_ends(64000))   # 2000 ms
    gaps = np.diff(times)
    assert abs(times.size / 2000.0 - rate) < 5 * math.sqrt(rate / 2000.0)
    assert abs(gaps.mean() * rate - 1) < 0.1


class _TightSource(rng.PoissonSource):
    """A source whose buffers start at one event and never grow ahead of need."""

    def _room(self, t_ends):
        if self._bufs[0].size > 1 and not getattr(self, "_grown", False):
            self._bufs, self._grown = self._new_buffers(1), True
        return self._bufs


def test_full_buffers_resume_without_changing_events():
    args = ([2.0, 1.0, 0.5], [1.0, 0.5, 0.0], [0.1, 0.1, 0.2], [0.2, 0.2, 0.0])
    got, want = [], []
    tight = _TightSource(*args, seed=(5,), on_events=lambda *a: got.append(a))
    roomy = rng.PoissonSource(*args, seed=(5,), on_events=lambda *a: want.append(a))
    for chunk in np.array_split(step_ends(4000), 3):
        for a, b in zip(tight.take(chunk), roomy.take(chunk)):
            assert np.array_equal(a, b)
    assert tight._bufs[0].size > 1 and len(got) == len(want) == 3
    for a, b in zip(got, want):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
