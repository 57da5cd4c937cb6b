"""The bridge: Arbor's ABI tables of each mechanism filled from its spec and its
backend's callbacks, in a fresh copy of the C++ shim (``_shim.cpp``) that Arbor
loads as a catalogue. See :mod:`.shim`."""
from .shim import (Shim, check_map_budget, install_interrupt_handler,  # noqa: F401
                   mechanism_type, native_failures, shim_path)
