"""Mechanism kinds and interface methods, and which methods Arbor 0.12 calls for each kind."""
from ..abi.contract import METHODS  # noqa: F401  (the order the shim numbers them)

KINDS = ("density", "point", "voltage", "reversal_potential", "junction")
CURRENT_KINDS = ("density", "point", "junction")

# What a class (or build()) may choose: auto or a backend of arbor_pycat.backends.registry.
BACKEND_CHOICES = ("auto", "numba", "python")

# Methods Arbor 0.12 never calls for a kind (measured): defining one is an error.
NEVER_CALLED = {
    "reversal_potential": {"advance_state", "write_ions", "apply_events", "post_event"},
    "voltage": {"write_ions", "apply_events"},
    "density": {"apply_events"},
    "junction": {"apply_events"},
}
NEVER_CALLED_WHY = {
    "reversal_potential": "it calls init_mechanism and compute_currents: compute the reversal "
                          "potential in compute_currents",
    "voltage": "events go to point mechanisms, and voltage mechanisms run after write_ions",
    "density": "events are delivered to point mechanisms only",
    "junction": "events are delivered to point mechanisms only",
}
