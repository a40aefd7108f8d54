"""The sweep worker: the connection (`worker`), its slots (`slots`, `slot_handle`), the slot
process itself (`slot_process`), result delivery, walltime and the command line."""
