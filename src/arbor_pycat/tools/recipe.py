"""The part every cable-cell recipe of arbor_pycat (demo, compare) and of its
tests and benchmarks shares.

Importing this module imports arbor.
"""
import arbor


class CableRecipe(arbor.recipe):
    """``n_cells`` cable cells with common global properties.

    ``properties``: Arbor's cable properties; default
    ``arbor.neuron_cable_properties()`` with ``catalogue`` (if given) added to
    Arbor's default catalogue. Subclasses write :meth:`make_cell` and, as
    needed, ``probes``, ``event_generators``, ... Every cell made is kept in
    ``self.cells``: Arbor 0.12.2 frees a cable cell nothing in Python holds,
    and probes on it then read freed memory.
    """

    def __init__(self, catalogue: arbor.catalogue | None = None, n_cells: int = 1,
                 properties: arbor.cable_global_properties | None = None):
        super().__init__()
        if properties is None:
            properties = arbor.neuron_cable_properties()
            if catalogue is not None:
                properties.catalogue.extend(catalogue, "")
        self.props = properties
        self.n_cells = n_cells
        self.cells: dict[int, arbor.cable_cell] = {}

    def num_cells(self) -> int:
        return self.n_cells

    def cell_kind(self, gid: int) -> arbor.cell_kind:
        return arbor.cell_kind.cable

    def global_properties(self, kind: arbor.cell_kind) -> arbor.cable_global_properties:
        return self.props

    def cell_description(self, gid: int) -> arbor.cable_cell:
        cell = self.make_cell(gid)
        self.cells[gid] = cell
        return cell

    def make_cell(self, gid: int) -> arbor.cable_cell:
        """The ``arbor.cable_cell`` of ``gid``."""
        raise NotImplementedError
