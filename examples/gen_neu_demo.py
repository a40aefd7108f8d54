"""Demo 1 (the seed's gen_neu_demo.py in Python 3): set parameters, simulate, plot.

Run: python examples/gen_neu_demo.py [-o volt.png]
Shows the plot in a window when there is a display, else writes it to the -o file.
"""
import argparse

from neunet import gen_neu, parameters
from neunet.plot import LiveVoltage, is_interactive, raster, voltage

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("-o", "--output", default="gen_neu_demo.png", help="image file (headless)")
parser.add_argument("--t", type=float, default=100.0, help="simulated time (ms)")
parser.add_argument("--live", action="store_true", help="watch the voltage while it runs")
args = parser.parse_args()

# Get default parameters
pm = parameters()

# Customize parameters (the seed's comments, shortened)
pm['simulation-method'] = 'simple'   # simple, SSC (spike order correction), ...
pm['neuron-model'] = 'HH-PT-GH'      # HH-PT-GH, HH-GH, LIF-G, LIF-GH, DIF-single-GH, ...
pm['net'] = '-'                      # '-' = all-to-all; or a path, a list of lists, an array
pm['t'] = args.t                     # simulated time (ms)
pm['dt'] = 1.0 / 32.0                # time step (ms)
pm['stv'] = pm['dt']                 # sampling interval of the recorded data (ms)
pm['nE'] = 1                         # excitatory neurons
pm['nI'] = 0                         # inhibitory neurons
pm['pr'] = 1.0                       # Poisson input rate (1/ms)
pm['ps'] = 0.02                      # Poisson input strength
pm['scee'] = pm['scei'] = pm['scie'] = pm['scii'] = 0.05   # coupling strengths

# Call the simulator. Modes: v (progress), rm (default: delete the data files), no-rm,
# read, nameX, cmd, extra-data, live (plot the voltage while it runs).
watcher = LiveVoltage(pm) if args.live else None
result = gen_neu(pm, 'v rm live' if args.live else 'v rm', watcher=watcher)

print("data has been stored in list 'result'")
print([(x[0], x[1]) for x in result])   # x[2] is the data itself
print(f"{len(result.ras)} spikes; first neuron's trace has {len(result[0][2][0])} samples")

fig = voltage(result, neurons=[1])      # the same as plt.plot(result[0][2][0])
if is_interactive():
    import matplotlib.pyplot as plt

    raster(result)
    plt.show()
else:
    fig.savefig(args.output)
    print(f"wrote {args.output}")
