"""Owns the exit statuses of the sweep commands (coordinator, worker, Dask route, neunet.run).

The simulator's command line (`neunet.sim`) uses the same numbers for the same meanings; it
defines its own because it imports nothing outside `neunet.sim`.
"""

# Every task finished (or, for a worker: it stopped normally).
EXIT_OK = 0
# Some tasks failed (or a worker's simulator slots could not start).
EXIT_FAILED = 1
# Bad usage or input: one line on stderr.
EXIT_USAGE = 2
# Stopped by ctrl-c (SIGINT) or SIGTERM with tasks left: run the same command again to resume.
EXIT_INTERRUPTED = 130
