"""What a Result says about itself in a terminal and a notebook."""
import numpy as np

from neunet.result import Result


def test_repr_and_html_say_what_it_holds():
    ras = np.array([[1, 1.0], [1, 2.0], [3, 2.5]])
    res = Result({"volt": np.zeros((3, 100)), "ras": ras, "isi": np.ones(3)},
                 pm={"neuron-model": "LIF-GH", "nE": 2, "nI": 1, "t": 10.0})
    assert repr(res) == ("Result(volt(3, 100), ras(3, 2), isi(3,)): 3 spikes, LIF-GH 2E+1I, "
                         "t=10.0 ms")
    page = res._repr_html_()
    assert "3 spikes from 2 neurons (at most 2 each)" in page and "(3, 100) float64" in page
    assert repr(Result({"ras": np.zeros((0, 2))})) == "Result(ras(0, 2)): 0 spikes"
