"""Analysis of simulation results: summary statistics (`summary`), the smart filter (`filters`)
and its safe expression language (`expr`). Pure numpy: it runs inside worker slots.

Plots are `neunet.plot`, a leaf imported only by its command line and by user code."""
