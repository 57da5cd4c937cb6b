"""Tools around the pipeline: :mod:`.comparison` (``compare()``), :mod:`.recipe`
(a cable-cell recipe), :mod:`.demo`, :mod:`.info` (``python -m arbor_pycat info``),
:mod:`.properties` (``extend()``, ``cable_properties()``)."""
