"""The warm simulator: one process that keeps the engine loaded and runs command-line calls.

`server` is the program (the per-user server of ``neunet-sim`` and the private session
process of ``gen_neu``), `run` runs one call inside it, `client` is ``neunet-sim``'s front,
`session` is ``gen_neu``'s handle on its process, `control` is ``neunet-sim-server``, and
`wire` holds the socket's place, the identity check and the frames. Only `server` and `run`
load numpy and numba.
"""
