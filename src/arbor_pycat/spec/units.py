"""Units as Arbor's tables spell them."""
import re


def arbor_units(units):
    """Units as modcc writes them into Arbor's field tables: 'S/cm2' -> 'S / cm2',
    '/ms' -> '/ ms', 'mV ms' unchanged."""
    return re.sub(r"\s*/\s*", " / ", " ".join(units.split())).strip()
