"""The sweep worker: the connection (`worker`), its slots and their backlog (`slots`), the slot
process itself (`slot_process`), result delivery (`delivery`), walltime and the command line."""
