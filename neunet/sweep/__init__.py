"""Sweeps: tasks and their ids (`tasks`), cost estimates (`cost`), provenance and seeds,
the one simulate -> filter -> encode -> hash pipeline of a task (`task_run`), the executors
behind `neunet.run` and `neunet.rerun`."""
