"""What Arbor defines (:mod:`.structs`, the mechanism ABI), what the shim and
the Python side agree on (:mod:`.contract`), and Arbor's rules for mechanism
values (:mod:`.rules`). The lowest layer: it imports nothing of arbor_pycat."""
from .contract import (EXPECTED_LAYOUT, LAYOUT_FIRST_ION_BIT, LAYOUT_MAX_IONS,  # noqa: F401
                       LAYOUT_NODE_INDEX_BIT, LAYOUT_PEER_INDEX_BIT, METHODS)
from .structs import *  # noqa: F401,F403
