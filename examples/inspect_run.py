"""After a sweep: open its run directory, print the top rows, plot the sweep and one raster.

Run: python examples/inspect_run.py RUN_DIR [--out-dir .]
Writes sweep.png (mean rate against the Poisson rate, one line per model) and raster.png
(the most active task that kept its data).
"""
import argparse
import sys
from pathlib import Path

import neunet
from neunet import plot

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run_dir", help="the coordinator's --run-dir")
parser.add_argument("--out-dir", default=".", help="where sweep.png and raster.png go")
args = parser.parse_args()

try:
    run = neunet.open_run(args.run_dir)
except Exception as err:  # not a run directory: one line, exit 2
    sys.exit(print(f"inspect_run: error: {err}", file=sys.stderr) or 2)

table = run.table()
print(f"{len(table)} tasks: {run.counts()}")
columns = ["tid", "status", "neuron-model", "pr", "t", "mean_rate", "cv_isi", "chi",
           "real_s", "worker"]
top = table.sort_values("mean_rate", ascending=False)
print(top[[c for c in columns if c in table]].head(10).to_string(index=False))

quiet = run.query("status == 'finished' and mean_rate < 1 and pr > 0.2")
print(f"{len(quiet)} finished tasks stay below 1 Hz although pr > 0.2")

out = Path(args.out_dir)
out.mkdir(parents=True, exist_ok=True)
plot.sweep(run, x="pr", y="mean_rate", hue="neuron-model").savefig(out / "sweep.png", dpi=120)
print(f"wrote {out / 'sweep.png'}")

with_data = top[top["data_file"].notna()]
if len(with_data):
    tid = with_data["tid"].iloc[0]
    result = run.load(tid)             # the same Result as gen_neu returns, reduced by the filter
    title = f"task {tid}: {result.pm['neuron-model']}, pr = {result.pm['pr']}"
    plot.raster(result, title=title).savefig(out / "raster.png", dpi=120)
    print(f"wrote {out / 'raster.png'} ({title}, {len(result.ras)} spikes)")
else:
    print("no task kept bulk data (the filter dropped all): no raster")
failures = run.failures()
if len(failures):
    print("failures:")
    print(failures[["reason", "count"]].to_string(index=False))
