"""The C++ project's Octave scripts against neunet-sim, with and without the warm server.

    python benchmarks/octave_calls.py --mfile-dir PATH/mfile --reference PATH/bin/gen_neu \
        [--script example_HH_sine_response]

Copies the project's mfile folder (gen_neu.m and its helpers, networks) three times into a
temporary folder, each beside a ``bin/gen_neu`` that is the C++ program, ``neunet-sim`` with
the warm server off (NEUNET_SIM_SERVER=0), or ``neunet-sim`` with NEUNET_SIM_SERVER=1 (the
first call starts a private server; it is stopped at the end), runs the script in
``octave-cli`` (plot commands are no-ops) and prints the script's own ``tic``/``toc`` seconds
side by side, and the largest difference of its result array between the runs (``--result``,
default s_v_max). Needs ``octave-cli`` on PATH.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

# Octave plot commands replaced by no-ops (octave-cli has no graphics toolkit).
PLOT_FUNCTIONS = ("figure", "plot", "xlabel", "ylabel", "title", "hold", "cla", "clf",
                  "scatter", "ylim", "xlim", "legend", "subplot", "axis", "drawnow")


def neunet_sim() -> str:
    """The installed neunet-sim console script of this interpreter."""
    path = os.path.join(os.path.dirname(sys.executable), "neunet-sim")
    if not os.path.exists(path):
        sys.exit("neunet-sim is not installed next to this Python (pip install -e .)")
    return path


def stubs(folder: str) -> str:
    """A folder of do-nothing plot functions (put first on Octave's path)."""
    os.makedirs(folder)
    for name in PLOT_FUNCTIONS:
        with open(os.path.join(folder, f"{name}.m"), "w") as f:
            f.write(f"function varargout = {name}(varargin); varargout = cell(1, nargout); "
                    f"end\n")
    return folder


def run(mfile_dir, program, work, script, result, env_extra, stub_dir):
    """Copy mfile_dir beside bin/gen_neu -> program, run the script; (seconds, result)."""
    shutil.copytree(mfile_dir, os.path.join(work, "mfile"))
    os.makedirs(os.path.join(work, "bin"))
    os.symlink(program, os.path.join(work, "bin", "gen_neu"))
    out = os.path.join(work, "result.txt")
    code = (f"addpath('{stub_dir}'); {script}; save('-ascii', '{out}', '{result}');")
    env = dict(os.environ, **env_extra)
    r = subprocess.run(["octave-cli", "-q", "--eval", code], cwd=os.path.join(work, "mfile"),
                       env=env, capture_output=True, text=True)
    seconds = [float(s) for s in re.findall(r"Elapsed time is ([0-9.]+) seconds", r.stdout)]
    if not seconds or not os.path.exists(out):
        sys.exit(f"octave failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return sum(seconds), np.loadtxt(out)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mfile-dir", required=True, help="the C++ project's mfile folder")
    p.add_argument("--reference", required=True, help="the C++ gen_neu program")
    p.add_argument("--script", default="example_HH_sine_response", help="script to run")
    p.add_argument("--result", default="s_v_max", help="variable compared between runs")
    a = p.parse_args()
    if shutil.which("octave-cli") is None:
        sys.exit("octave-cli is not on PATH (Debian: apt-get install octave)")
    with tempfile.TemporaryDirectory(prefix="neunet-octave-") as tmp:
        stub_dir = stubs(os.path.join(tmp, "stubs"))
        server_dir = os.path.join(tmp, "server")
        runs = {"C++ gen_neu": (os.path.abspath(a.reference), {}),
                "neunet-sim": (neunet_sim(), {"NEUNET_SIM_SERVER": "0"}),
                "neunet-sim + warm server": (neunet_sim(), {"NEUNET_SIM_SERVER": "1",
                                                            "NEUNET_SIM_SERVER_DIR": server_dir})}
        got = {}
        try:
            for name, (program, env_extra) in runs.items():
                got[name] = run(a.mfile_dir, program, os.path.join(tmp, str(len(got))),
                                a.script, a.result, env_extra, stub_dir)
                print(f"{a.script} with {name:26s} {got[name][0]:7.1f} s", flush=True)
        finally:
            subprocess.run([sys.executable, "-m", "neunet.sim.warm.control", "stop"],
                           env=dict(os.environ, NEUNET_SIM_SERVER_DIR=server_dir),
                           capture_output=True)
        first = got["C++ gen_neu"][1]
        for name, (_, values) in got.items():
            print(f"  {a.result}: largest difference from the C++ run, {name}: "
                  f"{np.max(np.abs(values - first)):.3g}")


if __name__ == "__main__":
    main()
