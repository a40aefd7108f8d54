"""Simulator speed: kernel, whole process, numba floor and gen_neu side by side on fixed workloads.

    python benchmarks/sim_speed.py [--only N ...] [--repeat K] [--reference PATH/gen_neu]
                                   [--per-call]

Workloads (dt 1/32 ms, stv 0.5 ms, --seed 1, volt and raster written to a temp folder):
  1  HH-GH 1 neuron, t 1e5 ms, pr 1, ps 0.05, simple
  2  HH-GH 100 neurons, 10 % random net, t 1e3, pr 2, ps 0.02, scee 0.001, simple
  3  LIF-GH, same net and input, simple
  4  HH-GH 1000 neurons, 10 % random net, same input, simple
  5  LIF-GH 1000 neurons, same, SSC
  6  IF-jump 1000 neurons, same net and input
  7  IF-jump 1000 neurons, the same for t 1e4 ms (the simulation, not the start-up, counts)
  8  LIF-GH 1000 neurons, 5 % random net, same input, SSC-Sparse
  9  HH-GH 1000 neurons, 5 % random net, same input, SSC-Sparse
 10  HH-GH-cont-syn 100 neurons, 10 % random net, same input
The random nets are written once (numpy seed 2024, sparse 'i j a' form, read with
--sparse-net by both simulators).

Columns, each the median of --repeat rounds; one round runs, back to back, the command line
(`python -m neunet.sim ... --timing`), `python -c "import numpy, numba"` and, with
--reference, the gen_neu binary on the same arguments, so the three meet the same machine load:
  kernel  the run time the command line prints with its hidden --timing flag (engine.run:
          loading the cached kernels, event generation, kernels, output writing; no imports,
          no input parsing)
  whole   the command line's whole process
  floor   `import numpy, numba` alone: what any numba process pays before its own work
  +floor  whole - floor of the same round: what neunet adds to that floor
  C++     gen_neu's whole process
The ratios kernel/C++ and +floor/C++ are given as median and range over the rounds (each
round's ratio from its own three numbers). A second line gives the same figures in CPU
seconds (the children's user + system time; the kernel's from the CLI's process_time),
which the other load of a shared machine disturbs far less than wall time. Timing thresholds
live here, never in tests. The targets (issue 13, and the earlier ones kept), judged on the
wall-clock medians: +floor <= C++ on workloads 1-4; kernel <= 0.5 C++ on workloads 2-4;
whole <= 0.5 C++ on workload 5; whole <= C++ on workloads 6-10 (issue 15: IF-jump,
SSC-Sparse, cont-syn). Also printed: start-up, `--help` (imports only) and a
one-step run (imports + loading the cached kernels).

--per-call (workloads 1-3, or --only): in one run, after a warm-up round, 10 rounds that each
make one call of every kind, interleaved so a change of the machine's load hits all alike:
gen_neu(pm, 'rm') (its warm session process), simulate(pm) (in process), neunet-sim through
a warm server started for the run (its own folder) and neunet-sim without it (each with
--timing, volt/ras/isi files), and with --reference the C++ program writing the same files,
read back with numpy as gen_neu reads them. Medians per call; targets: gen_neu <= 0.5x the
C++ on workloads 2 and 3, <= 1.0x on 1; through the server each call's wall time beyond its
own kernel time <= 50 ms.
"""
from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# Arguments common to every workload.
COMMON = ["--dt", "0.03125", "--stv", "0.5", "--seed", "1"]
# Network input of workloads 2-5.
NET_INPUT = ["--t", "1000", "--pr", "2", "--ps", "0.02", "--scee", "0.001"]
# Workload number -> (label, neuron count or None for '-', arguments).
WORKLOADS = {
    1: ("HH-GH 1 neuron 1e5 ms simple", None,
        ["--neuron-model", "HH-GH", "--nE", "1", "--t", "100000", "--pr", "1", "--ps", "0.05",
         "--simulation-method", "simple"]),
    2: ("HH-GH 100 neurons simple", 100,
        ["--neuron-model", "HH-GH", "--nE", "100", *NET_INPUT, "--simulation-method", "simple"]),
    3: ("LIF-GH 100 neurons simple", 100,
        ["--neuron-model", "LIF-GH", "--nE", "100", *NET_INPUT, "--simulation-method",
         "simple"]),
    4: ("HH-GH 1000 neurons simple", 1000,
        ["--neuron-model", "HH-GH", "--nE", "1000", *NET_INPUT, "--simulation-method",
         "simple"]),
    5: ("LIF-GH 1000 neurons SSC", 1000,
        ["--neuron-model", "LIF-GH", "--nE", "1000", *NET_INPUT, "--simulation-method", "SSC"]),
    6: ("IF-jump 1000 neurons", 1000,
        ["--neuron-model", "IF-jump", "--nE", "1000", *NET_INPUT]),
    7: ("IF-jump 1000 neurons 1e4 ms", 1000,
        ["--neuron-model", "IF-jump", "--nE", "1000", *NET_INPUT[2:], "--t", "10000"]),
    8: ("LIF-GH 1000 neurons 5 % SSC-Sparse", 1000,
        ["--neuron-model", "LIF-GH", "--nE", "1000", *NET_INPUT, "--simulation-method",
         "SSC-Sparse"]),
    9: ("HH-GH 1000 neurons 5 % SSC-Sparse", 1000,
        ["--neuron-model", "HH-GH", "--nE", "1000", *NET_INPUT, "--simulation-method",
         "SSC-Sparse"]),
    10: ("HH-GH-cont-syn 100 neurons", 100,
         ["--neuron-model", "HH-GH-cont-syn", "--nE", "100", *NET_INPUT]),
}
# Workload -> edge probability of its random net, when not NET_DENSITY.
DENSITY = {8: 0.05, 9: 0.05}
# Workload -> targets as {figure: most ratio to gen_neu's whole process}.
TARGETS = {1: {"+floor": 1.0}, 2: {"+floor": 1.0, "kernel": 0.5},
           3: {"+floor": 1.0, "kernel": 0.5}, 4: {"+floor": 1.0, "kernel": 0.5},
           5: {"whole": 0.5}, **{k: {"whole": 1.0} for k in range(6, 11)}}
# Edge probability of the random nets.
NET_DENSITY = 0.1
# numpy seed of the random nets.
NET_SEED = 2024
# The numba process floor: what `import numpy, numba` costs alone.
FLOOR = [sys.executable, "-c", "import numpy, numba"]


def write_net(folder, n, density=NET_DENSITY):
    """Write a random net (no self-connections) in sparse form; return its path."""
    path = os.path.join(folder, f"net{n}_{density}.txt")
    if not os.path.exists(path):
        rng = np.random.default_rng(NET_SEED)
        a = rng.random((n, n)) < density
        np.fill_diagonal(a, False)
        post, pre = np.nonzero(a)
        np.savetxt(path, np.column_stack([post + 1, pre + 1, np.ones(post.size)]), fmt="%d")
    return path


def child_cpu_s():
    """CPU seconds (user + system) used by finished child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd):
    """(wall seconds, stderr) of one process; exits on failure."""
    wall, _cpu, err = timed_cpu(cmd)
    return wall, err


def timed_cpu(cmd):
    """(wall seconds, CPU seconds, stderr) of one process; exits on failure."""
    cpu0, t0 = child_cpu_s(), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, child_cpu_s() - cpu0
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr.strip()}")
    return wall, cpu, r.stderr


def args_for(number, folder):
    """(label, gen_neu arguments) of a workload, its net written into folder."""
    label, n, args = WORKLOADS[number]
    net = (["--net", "-"] if n is None else
           ["--net", write_net(folder, n, DENSITY.get(number, NET_DENSITY)), "--sparse-net"])
    out = ["-o", os.path.join(folder, "volt.dat"), "--ras-path", os.path.join(folder, "ras.txt")]
    return label, [*args, *net, *COMMON, *out]


def startup(repeat):
    """Print the wall time of `--help` and of a one-step run (imports + cached kernels)."""
    sim = [sys.executable, "-m", "neunet.sim"]
    helps = [timed(sim + ["--help"])[0] for _ in range(repeat)]
    tiny = sim + ["--neuron-model", "HH-GH", "--net", "-", "--t", "0.5", "--stv", "0.5",
                  "--simulation-method", "simple"]
    timed(tiny)   # compile if the cache is cold
    runs, cpus = [], []
    for _ in range(repeat):
        cpu0 = child_cpu_s()
        runs.append(timed(tiny)[0])
        cpus.append(child_cpu_s() - cpu0)
    floor = min(timed(FLOOR)[0] for _ in range(repeat))
    print(f"start-up: --help {min(helps):.3f} s; import + cached kernels + one step "
          f"{min(runs):.3f} s wall, {min(cpus):.3f} s CPU (target <= 0.5 s: "
          f"{'PASS' if min(runs) <= 0.5 else 'FAIL'}); 'import numpy, numba' alone "
          f"{floor:.3f} s (minimum of {repeat})")


def measure_round(args, reference):
    """One round, the command line, the floor and gen_neu back to back: ({figure: wall
    seconds}, {figure: CPU seconds}) (the kernel's CPU time only if the CLI prints it)."""
    wall, cpu, err = timed_cpu([sys.executable, "-m", "neunet.sim", *args, "--timing"])
    kernel = re.search(r"timing: run ([0-9.]+) s(?:, cpu ([0-9.]+) s)?", err)
    floor, floor_cpu, _ = timed_cpu(FLOOR)
    walls = {"kernel": float(kernel.group(1)), "whole": wall, "floor": floor,
             "+floor": wall - floor}
    cpus = {"kernel": float(kernel.group(2) or "nan"), "whole": cpu, "floor": floor_cpu,
            "+floor": cpu - floor_cpu}
    if reference:
        walls["C++"], cpus["C++"], _ = timed_cpu([reference, *args])
    return walls, cpus


def verdict(number, ratios):
    """' targets ...: PASS/FAIL' for a workload, judged on the median ratios."""
    targets = TARGETS[number]
    ok = all(statistics.median(ratios[k]) <= most for k, most in targets.items())
    wanted = ", ".join(f"{k} <= {most} C++" for k, most in targets.items())
    return f"  target {wanted}: {'PASS' if ok else 'FAIL'}"


def process_mode(numbers, folder, repeat, reference):
    """The table of kernel, whole process, floor and gen_neu for each workload: wall-clock
    medians (the targets are judged on them), then the same figures in CPU seconds, which
    other load on the machine disturbs less."""
    head = f"{'workload':37s} {'kernel':>7s} {'whole':>7s} {'floor':>7s} {'+floor':>7s}"
    print(head + (f" {'C++':>7s} | kernel/C++        +floor/C++        whole/C++"
                  if reference else ""), flush=True)
    for number in numbers:
        label, args = args_for(number, folder)
        timed([sys.executable, "-m", "neunet.sim", *args])   # compile/load the kernels once
        rounds = [measure_round(args, reference) for _ in range(repeat)]
        for k, name in enumerate((f"{number} {label}", "  the same in CPU seconds")):
            line = table_line(name, [r[k] for r in rounds], reference)
            print(line + (verdict(number, ratios_of([r[0] for r in rounds]))
                          if reference and k == 0 else ""), flush=True)


def ratios_of(rounds):
    """{figure: [ratio to gen_neu of each round]} for the judged figures."""
    return {k: [r[k] / r["C++"] for r in rounds] for k in ("kernel", "+floor", "whole")}


def table_line(name, rounds, reference):
    """A workload's line: medians of the figures and, with gen_neu, the ratios' medians and
    ranges."""
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    line = (f"{name:37s} {med['kernel']:7.3f} {med['whole']:7.3f} {med['floor']:7.3f} "
            f"{med['+floor']:7.3f}")
    if reference:
        line += f" {med['C++']:7.3f} |" + "".join(
            f" {statistics.median(v):5.2f} ({min(v):4.2f}-{max(v):4.2f})"
            for v in ratios_of(rounds).values())
    return line


# --per-call: calls per measured figure, after one warm-up call of each kind.
PER_CALL_CALLS = 10
# --per-call targets: workload -> most gen_neu per call / C++ per call (the issue's).
PER_CALL_TARGETS = {1: 1.0, 2: 0.5, 3: 0.5}
# --per-call target: most seconds a warm-server neunet-sim call may add to its kernel.
SERVER_OVERHEAD_MAX_S = 0.05


def pm_for(number, folder):
    """The workload's arguments as a gen_neu parameter mapping (seed, net file and all)."""
    from neunet import parameters
    label, n, args = WORKLOADS[number]
    pm = parameters()
    pm.update(scee=0.0, scie=0.0, scei=0.0, scii=0.0)     # the command line's defaults
    words = [*args, *COMMON]
    for flag, value in zip(words[::2], words[1::2]):
        key = flag[2:]
        pm[key] = value if key in ("neuron-model", "simulation-method") else float(value)
    pm["nE"], pm["seed"] = int(pm["nE"]), int(pm["seed"])
    if n is not None:
        pm.update({"net": write_net(folder, n), "sparse-net": True})
    return label, pm


def per_call_times(calls: dict, rounds: int) -> dict:
    """Name -> median wall seconds of one call, over `rounds` rounds that each call every
    function of `calls` once (interleaved, so a change in the machine's load hits all
    alike), after one warm-up round."""
    times = {name: [] for name in calls}
    for round_ in range(rounds + 1):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            if round_:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def reference_call(reference, argv, folder, n):
    """One C++ gen_neu call writing volt, ras and isi, and the files read back as gen_neu does."""
    from neunet.single import read_outputs
    paths = {k: os.path.join(folder, f"ref.{k}") for k in ("volt", "ras", "isi")}
    cmd = [reference, *argv, "--volt-path", paths["volt"], "--ras-path", paths["ras"],
           "--isi-path", paths["isi"]]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode().strip()}")
    read_outputs(paths, n)


def sim_command():
    """The neunet-sim command: the installed console script, else ``python -m neunet.sim``."""
    script = os.path.join(os.path.dirname(sys.executable), "neunet-sim")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "neunet.sim"]


class ServerCalls:
    """neunet-sim calls through a warm server started for this benchmark (its own folder),
    and the same calls without it; keeps each call's wall and --timing kernel seconds."""

    def __init__(self, folder):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEUNET_SIM")}
        self.env["NEUNET_SIM_SERVER_DIR"] = os.path.join(folder, "server")
        start = [sys.executable, "-m", "neunet.sim.warm.control"]
        r = subprocess.run([*start, "start", "--idle-timeout", "600"], env=self.env,
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"the warm server did not start: {r.stderr.strip()}")
        self.stop = lambda: subprocess.run([*start, "stop"], env=self.env, capture_output=True)
        self.kernel_s: dict = {}
        self.over_s: dict = {}
        self.client_cpu_s: dict = {}

    def call(self, name, argv, server=True):
        """One call; records its kernel seconds, and its wall seconds beyond them, under
        `name`."""
        env = self.env if server else dict(self.env, NEUNET_SIM_SERVER="0")
        t0, cpu0 = time.perf_counter(), child_cpu_s()
        r = subprocess.run([*sim_command(), *argv, "--timing"], env=env, capture_output=True,
                           text=True)
        wall, cpu = time.perf_counter() - t0, child_cpu_s() - cpu0
        self.client_cpu_s.setdefault(name, []).append(cpu)
        if r.returncode:
            sys.exit(f"neunet-sim failed ({r.returncode}): {r.stderr.strip()}")
        kernel = float(re.search(r"timing: run ([0-9.]+) s", r.stderr).group(1))
        self.kernel_s.setdefault(name, []).append(kernel)
        self.over_s.setdefault(name, []).append(wall - kernel)


def per_call(number, folder, calls, reference, server):
    """Per-call times of gen_neu(pm, 'rm'), simulate(pm), the C++ subprocess with its files
    read back, and neunet-sim with and without the warm server, one workload."""
    from neunet import gen_neu, simulate
    from neunet.params.argv import to_argv
    label, pm = pm_for(number, folder)
    data = os.path.join(folder, "gen_neu_data")
    n = pm["nE"] + pm["nI"]
    argv = to_argv(pm, data)
    files = [x for k in ("volt", "ras", "isi")
             for x in (f"--{k}-path", os.path.join(folder, f"cli.{k}"))]
    kinds = {"gen_neu": lambda: gen_neu(pm, "rm", data_dir=data),
             "simulate": lambda: simulate(pm),
             "neunet-sim (server)": lambda: server.call(number, argv + files),
             "neunet-sim (no server)": lambda: server.call(-number, argv + files, False)}
    if reference:
        kinds["C++"] = lambda: reference_call(reference, argv, folder, n)
    fig = per_call_times(kinds, calls)
    kernel = statistics.median(server.kernel_s[number][1:])
    print(f"{number} {label} — per call, median of {calls} (after one warm-up):", flush=True)
    for name, t in fig.items():
        print(f"    {name:24s} {t * 1e3:8.1f} ms", flush=True)
    over = statistics.median(server.over_s[number][1:])    # each call's wall - its kernel
    print(f"    neunet-sim (server): kernel {kernel * 1e3:.1f} ms, each call's wall beyond its "
          f"kernel {over * 1e3:.1f} ms (target <= {SERVER_OVERHEAD_MAX_S * 1e3:.0f} ms: "
          f"{'PASS' if over <= SERVER_OVERHEAD_MAX_S else 'FAIL'}); without the server "
          f"{statistics.median(server.over_s[-number][1:]) * 1e3:.1f} ms", flush=True)
    print(f"    CPU of the neunet-sim process itself: through the server "
          f"{statistics.median(server.client_cpu_s[number][1:]) * 1e3:.1f} ms, without "
          f"{statistics.median(server.client_cpu_s[-number][1:]) * 1e3:.1f} ms", flush=True)
    if reference:
        ratio, most = fig["gen_neu"] / fig["C++"], PER_CALL_TARGETS[number]
        print(f"    gen_neu / C++ = {ratio:.2f} (target <= {most}: "
              f"{'PASS' if ratio <= most else 'FAIL'})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", type=int, action="append", choices=sorted(WORKLOADS),
                   help="run only this workload (repeatable)")
    p.add_argument("--repeat", type=int, default=3, help="rounds per workload (median shown)")
    p.add_argument("--reference", metavar="PATH", help="gen_neu binary to compare with")
    p.add_argument("--per-call", action="store_true",
                   help="per-call mode: gen_neu(pm, 'rm'), simulate(pm), the C++ subprocess "
                        "(--reference) and neunet-sim through the warm server, workloads 1-3")
    a = p.parse_args()
    # Bytecode as an installed package has it (pip compiles it; an editable install under
    # PYTHONDONTWRITEBYTECODE would recompile neunet's sources at every start, ~0.08 s).
    compileall.compile_dir(os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "neunet"), quiet=1)
    with tempfile.TemporaryDirectory(prefix="neunet-bench-") as folder:
        if a.per_call:
            server = ServerCalls(folder)
            try:
                for number in a.only or sorted(PER_CALL_TARGETS):
                    per_call(number, folder, PER_CALL_CALLS, a.reference, server)
            finally:
                server.stop()
            return
        startup(max(a.repeat, 7))     # the minimum of several: noise only adds
        process_mode(a.only or sorted(WORKLOADS), folder, a.repeat, a.reference)


if __name__ == "__main__":
    main()
