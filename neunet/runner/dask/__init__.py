"""The Dask route: the same run directory filled through a Dask cluster (`executor`), what a
Dask worker runs (`task`) and the coordinator's `--dask` mode (`cli`)."""
