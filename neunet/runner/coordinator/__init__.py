"""The sweep coordinator: scheduler (a pure state machine) and its events, the asyncio server,
result uploads, the store writer thread, progress, the local worker and the command line."""
