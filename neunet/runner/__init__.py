"""The distributed runner: the wire (`wire`), the coordinator, the worker and the Dask route.

`wire` imports no coordinator or worker code; the coordinator process never imports numba."""
