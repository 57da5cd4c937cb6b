"""The rows of scripts/mutation_audit.py still match the source tree.

A row names a file and the exact text its mutant replaces; when code moves,
the row must be retargeted, and this test says which one (the audit itself
reports such a row as STALE instead of running it).
"""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _audit():
    spec = importlib.util.spec_from_file_location("mutation_audit", ROOT / "scripts" / "mutation_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_row_matches_exactly_once():
    audit = _audit()
    assert len(audit.MUTANTS) >= 20
    assert len({m.name for m in audit.MUTANTS}) == len(audit.MUTANTS)
    for m in audit.MUTANTS:
        assert m.old != m.new, m.name
    assert audit._check_rows(audit.MUTANTS, ROOT) == {}


def test_a_stale_row_is_reported():
    audit = _audit()
    stale = audit.Mutant("gone", "a rule that moved", audit.PY_FIELDS, "text that is not there", "x")
    missing = audit.Mutant("moved", "a file that moved", "src/arbor_pycat/nowhere.py", "a", "b")
    twice = audit.Mutant("twice", "ambiguous", audit.PY_FIELDS, "self", "this")
    problems = audit._check_rows([stale, missing, twice], ROOT)
    assert set(problems) == {"gone", "moved", "twice"}
    assert "0 times" in problems["gone"] and "not found" in problems["moved"]
