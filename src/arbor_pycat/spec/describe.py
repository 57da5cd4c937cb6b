"""Human-readable text of a spec: the table ``register`` appends to a class's docstring."""
from .units import arbor_units


def declared_text(entries, units=True):
    if not entries:
        return "none"
    if units:
        return ", ".join(f"{e.name} [{e.units or '-'}] = {e.default:g}" for e in entries)
    return ", ".join(e.name for e in entries)


def ion_text(ion):
    reads = [label for flag, label in (
        (ion.read_rev_potential, f"e{ion.name}"), (ion.read_int_concentration, f"{ion.name}i"),
        (ion.read_ext_concentration, f"{ion.name}o"), (ion.read_valence, f"{ion.name}q")) if flag]
    writes = [label for flag, label in (
        (ion.write_rev_potential, f"e{ion.name}"), (ion.write_int_concentration, f"{ion.name}i"),
        (ion.write_ext_concentration, f"{ion.name}o")) if flag]
    text = f"{ion.name} (reads {', '.join(reads) or 'nothing'}; writes {', '.join(writes) or 'no concentration'}"
    if ion.use_diff_concentration:
        text += f"; uses {ion.name}d"
    if ion.verify_valence:
        text += f"; valence must be {ion.expected_valence}"
    return text + ")"


def doc_table(spec):
    """The text ``register`` appends to a mechanism class's docstring: kind, name and
    every declared field with its units and default, as ``help(cls)`` shows them."""
    lines = [f"arbor_pycat mechanism {spec.name!r} (kind {spec.kind!r}).", ""]
    rows = [(what, e.name, arbor_units(e.units) or "-", f"{e.default:g}")
            for what, entries in (("parameter", spec.parameters), ("state", spec.state_vars),
                                  ("global", spec.globals)) for e in entries]
    rows += [("random", r.name, "-", "N(0, 1) per step") for r in spec.random]
    if rows:
        widths = [max(len(row[k]) for row in rows + [("field", "name", "units", "default")])
                  for k in range(4)]
        header = ("field", "name", "units", "default")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    else:
        lines.append("No parameters, states or globals.")
    if spec.ions:
        lines += ["", "Ions: " + ", ".join(ion_text(ion) for ion in spec.ions) + "."]
    lines += ["", "Methods: " + (", ".join(spec.methods) or "none") + "."]
    return "\n".join(lines)
