"""Quick kernel timing of neunet.sim.engine.run on the speed-target workloads (in-process).

    python benchmarks/engine_speed.py [--only NAME ...] [--repeat K]

Input events are Poisson trains drawn with numpy (not the reference RNG), the network is a
fixed-seed 10 % random net. Prints the wall and CPU time of `run` (kernels plus chunk overhead,
after a
warm-up run that loads or compiles the cached kernels) against the targets from the brief.
"""
import argparse
import time

import numpy as np

from neunet.sim.engine import Problem, run

# name -> (model, method, n, T ms, pr, ps, target seconds)
WORKLOADS = {
    "hh1": ("HH-GH", "simple", 1, 1e5, 1.0, 0.05, 0.9),
    "hh100": ("HH-GH", "simple", 100, 1e3, 2.0, 0.02, 0.45),
    "hh1000": ("HH-GH", "simple", 1000, 1e3, 2.0, 0.02, 4.5),
    "lif1000ssc": ("LIF-GH", "SSC", 1000, 1e3, 2.0, 0.02, 10.5),
    "lif100": ("LIF-GH", "simple", 100, 1e3, 2.0, 0.02, 0.25),
}
# Time step and sampling interval (ms) of all workloads.
DT_MS, STV_MS = 1 / 32, 0.5


class PoissonEvents:
    """All events drawn up front with numpy, handed out per chunk."""

    def __init__(self, n, T, rate, strength, seed=1):
        rng = np.random.default_rng(seed)
        self.n, self.trains, self.pos = n, [], np.zeros(n, np.int64)
        for _ in range(n):
            k = rng.poisson(rate * T * 1.1) + 10
            self.trains.append(np.cumsum(rng.exponential(1 / rate, k)))
        self.strength = strength

    def take(self, t_ends):
        ptr, parts = [0], []
        for i, tr in enumerate(self.trains):
            stop = np.searchsorted(tr, t_ends[-1], side="left")
            parts.append(tr[self.pos[i]:stop])
            self.pos[i] = stop
            ptr.append(ptr[-1] + len(parts[-1]))
        times = np.concatenate(parts)
        return np.array(ptr, np.int64), times, np.full(len(times), self.strength)


class NullSink:
    """Counts what it receives."""

    def __init__(self):
        self.rows = self.spikes_n = 0

    def samples(self, volt, cond, gate):
        self.rows += len(volt)

    def spikes(self, ids, times):
        self.spikes_n += len(ids)

    def progress(self, t_ms):
        pass

    def finish(self, counts):
        pass


def problem(model, method, n, T, scee=0.001):
    """Problem on a 10 % random network (fixed seed)."""
    rng = np.random.default_rng(42)
    A = (rng.random((n, n)) < 0.1).astype(float)
    np.fill_diagonal(A, 0)
    post, pre = np.nonzero(A)
    order = np.lexsort((post, pre))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n))]).astype(np.int64)
    return Problem(model=model, method=method, nE=n, nI=0, post_ptr=ptr,
                   post_idx=post[order].astype(np.int64), post_w=np.ones(len(post)),
                   scee=scee, scie=scee, scei=0.0, scii=0.0, dt=DT_MS, t_warmup=0.0,
                   n_steps=int(np.floor(T / DT_MS)), steps_per_sample=int(STV_MS / DT_MS + 0.1),
                   T=T)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=list(WORKLOADS))
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    for name in a.only:
        model, method, n, T, pr, ps, target = WORKLOADS[name]
        run(problem(model, method, n, 10.0), PoissonEvents(n, 10.0, pr, ps), NullSink())
        best, best_cpu = np.inf, np.inf
        for _ in range(a.repeat):
            ev, sink = PoissonEvents(n, T, pr, ps), NullSink()
            t0, c0 = time.perf_counter(), time.process_time()
            run(problem(model, method, n, T), ev, sink)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        rate = sink.spikes_n / n / T * 1000
        print(f"{name:12s} wall {best:7.3f} s  cpu {best_cpu:7.3f} s  target {target:5.2f} s  "
              f"{'OK ' if best_cpu <= target else 'SLOW'}  ({rate:.1f} Hz/neuron)", flush=True)


if __name__ == "__main__":
    main()
