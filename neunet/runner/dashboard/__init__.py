"""The live web dashboard of a sweep: progress, workers, task stream, failures, sweep plot, tasks.

Modules: `model` (the run directory's tasks, read-only from index.sqlite), `views` (what is
shipped to the browser, aggregated), `state` (the pushed state), `live` (a running
coordinator's figures), `access` (login, limits), `assets` (the page's files), `server`
(aiohttp, Server-Sent Events), `embed` (starting it inside a coordinator, a thread, or the
command line ``python -m neunet.dashboard RUN_DIR``). It reads the store and a coordinator's
state; nothing below it imports it.
"""
