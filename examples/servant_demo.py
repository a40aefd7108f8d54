"""Demo 3 (the seed's servant_demo.py in Python 3): start a worker that connects to the
coordinator, runs simulations (and the filter) and sends the results back.

Run (after ``python examples/server_demo.py`` in another shell):

    python examples/servant_demo.py [--slots 2]

On another machine, give the coordinator's address and the shared token instead, e.g.
``python -m neunet.worker --connect HOST:22222 --token-file token.txt``.
"""
import sys

from neunet.worker import main

PORT = 22222         # the same as the coordinator's
HOST = "127.0.0.1"   # the host running the coordinator
ADDR = (HOST, PORT)

if __name__ == "__main__":
    extra = sys.argv[1:] or ["--slots", "2"]
    sys.exit(main(["--connect", f"{ADDR[0]}:{ADDR[1]}", "--exit-on-disconnect", *extra]))
