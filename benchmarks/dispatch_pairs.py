"""Dispatch figures (a) and (d) of two checkouts, alternating, judged by paired ratios.

``python benchmarks/dispatch_pairs.py BEFORE_DIR [AFTER_DIR] [--rounds 12]``: runs
``benchmarks/dispatch.py --only a,d --executor neunet`` of each checkout (each with its own
``.venv``; AFTER_DIR defaults to this checkout) in turn, the order swapped every round, and
prints each figure's medians and the median and quartiles of the per-round ratios after /
before. On a shared machine whose speed drifts, the per-round ratio cancels the drift that
separate medians keep. Used for "the cost of a change on (a) and (d)": the frame tags of
issue 16 (within 10 %) and the package restructure of issue 12 (unchanged within noise).
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

# Figure -> (pattern of its value in dispatch.py's table, unit).
FIGURES = {"a": (r"\(a\) throughput.*?(\d+) tasks/s", "tasks/s"),
           "d": (r"\(d\) 50 MB.*?([\d.]+) GB/s", "GB/s")}


def _one_run(tree: Path) -> dict:
    """Figures (a) and (d) of one dispatch.py run in `tree`."""
    py = tree / ".venv" / "bin" / "python"
    out = subprocess.run([str(py), "benchmarks/dispatch.py", "--only", "a,d", "--executor",
                          "neunet"], cwd=tree, capture_output=True, text=True).stdout
    values = {}
    for fig, (pattern, _) in FIGURES.items():
        m = re.search(pattern, out)
        if m is None:
            raise SystemExit(f"dispatch_pairs: no figure ({fig}) in the output of {tree}:\n{out}")
        values[fig] = float(m.group(1))
    return values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="checkout measured as 'before' (with .venv)")
    ap.add_argument("after", type=Path, nargs="?", default=Path(__file__).resolve().parents[1],
                    help="checkout measured as 'after' (default: this one)")
    ap.add_argument("--rounds", type=int, default=12, help="runs of each (default 12)")
    args = ap.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for name, tree in trees.items():
        if not (tree / ".venv" / "bin" / "python").exists():
            ap.error(f"{name} checkout {tree} has no .venv/bin/python")
    runs: dict = {name: [] for name in trees}
    for k in range(args.rounds):
        order = list(trees) if k % 2 == 0 else list(trees)[::-1]
        for name in order:
            runs[name].append(_one_run(trees[name]))
        print(f"round {k + 1}: " + "; ".join(
            f"{n} " + ", ".join(f"({f}) {runs[n][-1][f]:g}" for f in FIGURES) for n in trees),
            flush=True)
    for fig, (_, unit) in FIGURES.items():
        before = [r[fig] for r in runs["before"]]
        after = [r[fig] for r in runs["after"]]
        ratios = [a / b for a, b in zip(after, before)]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"({fig}) before median {statistics.median(before):g} {unit} "
              f"({min(before):g}-{max(before):g}); after median {statistics.median(after):g} "
              f"({min(after):g}-{max(after):g}); after / before, median of the paired runs "
              f"x{statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
