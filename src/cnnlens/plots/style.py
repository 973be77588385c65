"""What all figures share."""

import matplotlib.pyplot as plt


def colours() -> list[str]:
    """The colour cycle, repeated so that many runs still get a colour each."""
    return plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4
