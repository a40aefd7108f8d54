"""Scale and attack benchmark of the coordinator, with a harness of fake workers (issue 16).

Figures, each printed with its peer or target in the same run:

(scale) N = 10, 100, 1000 authenticated fake workers in one harness process (this one, on
    uvloop), each with `--slots` slots, returning a real 4.7 KB result (a 1-neuron, 10 ms
    simulation's .npz and summary, made once) for every task the moment it arrives: stored
    tasks/s (tasks / seconds from the first task dispatched to the coordinator's exit, every
    result durable), the coordinator's CPU seconds and its peak memory (VmHWM). dask's
    scheduler does ~630 tasks/s on this machine (issue 16); the coordinator stored
    5,000-8,000/s before.
(attack) coordinator memory (VmRSS) after 1000 idle + 400 "bomb" connections (each pours
    260 KB of frames holding an empty msgpack array: 104 MB in all) while a real worker runs
    a sweep: target <= 150 MB, and the worker's tasks keep being stored during the attack.
    ``--baseline DIR`` runs the same attack against the checkout in DIR too (e.g. main).
(idle) microseconds per request of an idle worker when the queue is empty (stealing and
    speculation) with W workers x 32 slots all busy, W = 10, 500, 2000: target <= 100 us at
    2000 x 32; with ``--baseline DIR`` the scheduler of DIR side by side.

Usage: ``python benchmarks/scale.py [--only scale,attack,idle] [--tasks 20000]
[--workers 10,100,1000] [--baseline DIR]``
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatch import _wait_log  # noqa: E402  (one log-polling helper for both benchmarks)

# Interpreter of every process.
PY = sys.executable
# The shared token of the coordinators started here.
TOKEN = b"scale-benchmark-token"
# Handshakes the harness runs at once (the coordinator caps unauthenticated connections).
CONCURRENT_HANDSHAKES = 32
# Idle and bomb connections of the attack, and bytes each bomb sends.
N_IDLE, N_BOMB, BOMB_BYTES = 1000, 400, 260_000
# Target of the attack figure (MB) and of the idle figure (microseconds).
ATTACK_TARGET_MB, IDLE_TARGET_US = 150.0, 100.0


def _env(root: Path = ROOT) -> dict:
    return dict(os.environ, PYTHONPATH=str(root), NEUNET_TOKEN=TOKEN.decode())


def _tasks_py(path: Path, n: int, body: str = "") -> Path:
    path.write_text("from neunet import parameters\n"
                    "pm = parameters(); pm['nE'] = 1; pm['nI'] = 0\n"
                    f"tasks = [dict(pm, t=10, pr=0.5 + i * 1e-6) for i in range({n})]\n" + body)
    return path


def _coordinator(tasks_py: Path, run_dir: Path, log: Path, root: Path = ROOT, *args):
    proc = subprocess.Popen([PY, "-m", "neunet.coordinator", str(tasks_py), "--run-dir",
                             str(run_dir), "--port", "0", "--local-slots", "0", *args],
                            env=_env(root), stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                            cwd=str(tasks_py.parent))
    port = int(_wait_log(log, r"listening on [^:]+:(\d+)", 120).group(1))
    return proc, port


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_mb(pid: int, key: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------ fake workers
def _result_bytes(t_ms: float = 10.0) -> tuple:
    """(summary, .npz bytes, result_hash) of a real 1-neuron simulation of `t_ms` (10 ms:
    ~4.7 KB; about 0.25 KB more per ms), as a real worker sends it."""
    import neunet
    from neunet.sweep.task_run import run_task
    pm = neunet.parameters()
    pm.update(nE=1, nI=0, t=t_ms, pr=0.5)
    out = run_task(pm)
    data = out.npz_bytes()
    return out.summary, data, out.digest


class _FakeWorker:
    """One authenticated connection that returns `result` for every task at once."""

    def __init__(self, wid: str, slots: int, result: tuple):
        self.wid, self.slots = wid, slots
        self.summary, self.data, self.digest = result
        self.stored = 0

    async def connect(self, port: int, gate: asyncio.Semaphore) -> None:
        from neunet.runner.wire import auth, frames, streams
        from neunet.runner.wire.batching import BatchedWriter
        async with gate:
            for _ in range(100):  # refused past the coordinator's caps: try again
                try:
                    self.reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    challenge = await streams.read_message(self.reader, frames.PREAUTH_FRAME_BYTES)
                    if challenge is not None:
                        break
                except (ConnectionError, frames.ProtocolError):
                    pass
                await asyncio.sleep(0.05)
            cnonce = auth.new_nonce()
            self.session = auth.worker_session(TOKEN, challenge["nonce"], cnonce)
            self.out = BatchedWriter(writer, session=self.session)
            self.out.write_now({"t": "hello", "worker": self.wid, "name": self.wid,
                                "slots": self.slots, "cnonce": cnonce})
            welcome = await streams.read_message(self.reader, session=self.session)
            assert welcome["t"] == "welcome", welcome
            self.out.send({"t": "join", "running": [], "held": []})

    async def run(self) -> None:
        beat = asyncio.ensure_future(self._beat())
        self.out.send({"t": "request", "n": self.slots})
        try:
            await self._serve()
        except ConnectionError:
            pass
        beat.cancel()

    async def _serve(self) -> None:
        from neunet.runner.wire import streams
        while (msg := await streams.read_message(self.reader, session=self.session)):
            if msg["t"] == "tasks":
                for task in msg["tasks"]:
                    self.out.send({"t": "result", "tid": task["tid"], "summary": self.summary,
                                   "real_s": 0.001, "size": len(self.data),
                                   "hash": self.digest})
                    self.out.send_chunk(task["tid"], self.data)
                    self.out.send({"t": "end", "tid": task["tid"]})
                self.out.send({"t": "request", "n": self.slots})
            elif msg["t"] == "ack":
                self.stored += 1
            elif msg["t"] == "shutdown":
                break

    async def _beat(self) -> None:
        while True:  # as a real worker: a heartbeat and its request every second
            await asyncio.sleep(1.0)
            self.out.send({"t": "heartbeat", "slots": []})
            self.out.send({"t": "request", "n": self.slots})


async def _fleet(port: int, n: int, slots: int, result: tuple) -> int:
    gate = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
    workers = [_FakeWorker(f"fake{i:04d}", slots, result) for i in range(n)]
    await asyncio.gather(*(w.connect(port, gate) for w in workers))
    await asyncio.gather(*(w.run() for w in workers))
    return sum(w.stored for w in workers)


def figure_scale(work: Path, n_workers: int, n_tasks: int, slots: int, result) -> dict:
    log = work / f"scale{n_workers}.log"
    proc, port = _coordinator(_tasks_py(work / f"scale{n_workers}.py", n_tasks),
                              work / f"run{n_workers}", log)
    cpu0 = _proc_cpu_s(proc.pid)
    import uvloop
    t0 = time.perf_counter()
    try:
        acked = uvloop.run(_fleet(port, n_workers, slots, result))
        cpu = _proc_cpu_s(proc.pid) - cpu0
        proc.wait(timeout=600)
    finally:  # never leave a coordinator behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - t0
    peak = float(_wait_log(log, r"peak memory (\d+) MB", 30).group(1))
    stored = int(_wait_log(log, r"sweep done: (\d+) finished", 30).group(1))
    return {"n": n_workers, "tasks_s": stored / wall, "cpu_s": cpu, "peak_mb": peak,
            "stored": stored, "acked": acked, "rc": proc.returncode, "wall": wall}


# ------------------------------------------------------------------ attack
def _attack(port: int) -> list:
    """Open the idle and bomb connections (kept open; the caller closes them)."""
    socks, junk = [], b"\x00\x00\x00\x01\x90" * (BOMB_BYTES // 5)
    for i in range(N_IDLE + N_BOMB):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        socks.append(s)
        if i >= N_IDLE:
            s.setblocking(False)
            try:
                s.send(junk)
            except OSError:
                pass
    return socks


def figure_attack(work: Path, root: Path, label: str) -> dict:
    log = work / f"attack_{label}.log"
    tasks_py = _tasks_py(work / f"attack_{label}.py", 0,
                         "tasks = [dict(pm, t=1e5, pr=0.5 + i * 1e-3) for i in range(30)]\n"
                         "filter = {'keep_if': 'n < 0'}\n")
    proc, port = _coordinator(tasks_py, work / f"run_attack_{label}", log, root)
    worker = subprocess.Popen([PY, "-m", "neunet.worker", "--connect", f"127.0.0.1:{port}",
                               "--slots", "1"], env=_env(root), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=str(root))
    socks = []
    try:
        _wait_log(log, r"first task dispatched", 120)
        before_mb = _proc_mb(proc.pid)
        done0 = _n_done(work / f"run_attack_{label}")
        socks = _attack(port)
        time.sleep(3.0)
        after_mb = _proc_mb(proc.pid)
        time.sleep(3.0)
        served = _n_done(work / f"run_attack_{label}") - done0
    finally:
        for s in socks:
            s.close()
        for p in (proc, worker):
            p.kill()
            p.wait()
    return {"before_mb": before_mb, "after_mb": after_mb, "served": served,
            "connections": len(socks)}


def _n_done(run_dir: Path) -> int:
    import sqlite3
    db = sqlite3.connect(f"file:{run_dir / 'index.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'finished'").fetchone()[0]
    finally:
        db.close()


# ------------------------------------------------------------------ idle requests
_IDLE_SCRIPT = textwrap.dedent("""
    import statistics, sys, time
    from neunet.runner.coordinator import scheduler as S
    W, slots, reps = int(sys.argv[1]), 32, 200
    tasks = [(f"t{i}", {}, 1.0 + i % 7, 1.0) for i in range(W * slots)]
    s = S.Scheduler(tasks, config=S.Config(speculate_after_s=1.0))
    for w in range(W):  # every slot busy for long: each task a candidate for a copy
        s.handle(S.Join(f"w{w}", f"w{w}", slots, 0.0))
        s.handle(S.Request(f"w{w}", slots, 0.0))
        for tid in list(s.workers[f"w{w}"].tids):
            s.handle(S.TaskState(f"w{w}", tid, "simulating", 0.0))
    s.handle(S.Join("idle", "idle", slots, 0.0))
    times = []
    for i in range(reps + 1):
        now = 100.0 + i * 1e-3
        t0 = time.perf_counter()
        out = s.handle(S.Request("idle", slots, now))
        times.append(time.perf_counter() - t0)
        given = [t["tid"] for a in out if isinstance(a, S.Assign) for t in a.tasks]
        s.handle(S.Released("idle", given, now))  # idle again for the next request
    print(times[0] * 1e6, statistics.median(times[1:]) * 1e6)
""")


def figure_idle(root: Path, n_workers: int) -> tuple:
    """(first request, median of the next 200) in microseconds."""
    out = subprocess.run([PY, "-c", _IDLE_SCRIPT, str(n_workers)], env=_env(root),
                         capture_output=True, text=True, check=True, cwd=str(root))
    first, median = map(float, out.stdout.split())
    return first, median


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="scale,attack,idle")
    p.add_argument("--tasks", type=int, default=20_000)
    p.add_argument("--workers", default="10,100,1000")
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--result-ms", type=float, default=10.0,
                   help="simulated ms of the fake workers' result (10: 4.7 KB, 400: ~100 KB)")
    p.add_argument("--baseline", type=Path, help="another checkout to compare (attack, idle)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="neunet-scale-") as tmp:
        work = Path(tmp)
        if "scale" in only:
            _print_scale(work, args)
        if "attack" in only:
            _print_attack(work, args)
        if "idle" in only:
            _print_idle(args)
    return 0


def _print_scale(work: Path, args) -> None:
    result = _result_bytes(args.result_ms)
    print(f"(scale) {args.tasks} tasks, fake workers x {args.slots} slots, "
          f"{len(result[1])} B results (dask's scheduler: ~630 tasks/s here)")
    print(f"{'N':>6} {'stored/s':>10} {'coord CPU s':>12} {'peak MB':>8} {'stored':>7}")
    for n in map(int, args.workers.split(",")):
        r = figure_scale(work, n, args.tasks, args.slots, result)
        print(f"{r['n']:>6} {r['tasks_s']:>10.0f} {r['cpu_s']:>12.1f} {r['peak_mb']:>8.0f} "
              f"{r['stored']:>7} (exit {r['rc']}, {r['wall']:.1f} s)", flush=True)


def _print_attack(work: Path, args) -> None:
    print(f"(attack) {N_IDLE} idle + {N_BOMB} bomb connections "
          f"({N_BOMB * BOMB_BYTES / 1e6:.0f} MB of junk) while a real worker runs a sweep; "
          f"target <= {ATTACK_TARGET_MB:.0f} MB")
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    for label, root in trees:
        r = figure_attack(work, root, label.replace(" ", "_"))
        print(f"  {label:>10}: coordinator RSS {r['before_mb']:.0f} MB before, "
              f"{r['after_mb']:.0f} MB after the attack ({r['connections']} connections "
              f"opened); real worker's tasks stored meanwhile: {r['served']}", flush=True)


def _print_idle(args) -> None:
    print(f"(idle) us per request of an idle 32-slot worker (a speculative copy of each slot's "
          f"worth), queue empty, W x 32 busy slots: median of 200 [the first request]; "
          f"target <= {IDLE_TARGET_US:.0f} us at 2000 x 32")
    for n in (10, 500, 2000):
        first, median = figure_idle(ROOT, n)
        line = f"  W={n:>5}: this tree {median:9.1f} us [{first:8.0f}]"
        if args.baseline:
            first, median = figure_idle(args.baseline, n)
            line += f"   baseline {median:9.1f} us [{first:8.0f}]"
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
