"""Demo 2 (the seed's server_demo.py in Python 3): generate the tasks of a sweep, start the
coordinator.

This file is a TASKS.py: the coordinator runs it and reads `tasks` and `filter`. Running it
directly starts the coordinator on it, waiting for workers (start them with
``python examples/servant_demo.py``), like the seed's ``lab(tasks, HOST, PORT).start()``:

    python examples/server_demo.py                    # serve on 127.0.0.1:22222
    python examples/server_demo.py --local-slots 2    # ... with a local worker of 2 slots
    python -m neunet.coordinator examples/server_demo.py --local-slots 2   # the same

NEUNET_DEMO_SCALE=quick shrinks the sweep to a few tiny tasks (for tests); the default is the
seed's 200 tasks, with 200-neuron networks so the sweep shows firing (about 2 minutes on 2
cores).
"""
import os
import sys

from neunet import parameters, task_generator

QUICK = os.environ.get("NEUNET_DEMO_SCALE") == "quick"

# The following part shows how you can effectively and conveniently (re)produce many tasks:
# several models, each with several Poisson rates, and a longer simulation (1000 ms) when
# the rate is below 0.4.
pm = parameters()          # the default parameters
pm['t'] = 100              # change them by key
pm['nE'], pm['nI'] = (4, 1) if QUICK else (160, 40)      # an E/I network
pm['ps'] = 0.04
pm['scee'], pm['scie'], pm['scei'], pm['scii'] = 0.001, 0.001, 0.002, 0.002
pm['stv'] = 0.5            # record every 0.5 ms (16 time steps)

tg = task_generator(pm)    # 'pm' is the prototype of all tasks' parameters

# tg.add(masks, target, values): every set matching one of the masks gets each value
tg.add(tg.pms, 'neuron-model', ['HH-PT-GH', 'HH-GH'])
rates = [x / 10.0 for x in range(0, 10, 3)] if QUICK else [x / 100.0 for x in range(0, 100)]
tg.add(tg.pms, 'pr', rates)

# Masks pick more specific sets: a DEEP copy of each matching set, with '*' for "any"
masks = [dict(x) for x in tg.pms if x['pr'] < 0.4 and x['neuron-model'] == 'HH-PT-GH']
print(f"tasks generated: {len(masks)}")
for mask in masks:
    mask['neuron-model'] = '*'       # all values match '*': both models
tg.add(masks, 't', [200 if QUICK else 1000])

tasks = tg.generate()               # a list of Task
print([(a.tid, a.pm['neuron-model'], a.pm['pr']) for a in tasks][:4], "...")

# The smart filter: summaries of every task are kept; bulk data only of the tasks that fire,
# and then only the raster and two neurons' voltage, every 4th sample.
filter = {
    "keep_if": "mean_rate > 1",
    "keep": ["ras", "volt"],
    "neurons": [1, 2],
    "downsample": 4,
}

HOST = "127.0.0.1"
PORT = 22222                         # workers connect to this HOST and PORT

if __name__ == "__main__":
    from neunet.coordinator import main

    extra = sys.argv[1:] or ["--local-slots", "0"]   # the seed's default: wait for servants
    sys.exit(main([__file__, "--host", HOST, "--port", str(PORT), *extra]))
