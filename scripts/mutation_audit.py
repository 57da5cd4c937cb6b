"""Mutation audit: does the test suite catch a broken ABI rule?

Each mutant is one hand-made change to one rule of Arbor's mechanism ABI as
arbor_pycat implements it (the x10 density scale, the CV-coverage weight, ...),
described as a row ``(file, exact old text, new text)`` so that it can be
retargeted when files move. The audit copies the source tree and the tests to
a temporary folder (the working tree is never touched), checks that the chosen
tests pass on the unchanged copy, then applies each mutant alone, runs the
tests against the copy and restores the file. A mutant is *killed* when a test
fails, *survives* when all pass. A row whose old text is not found exactly
once is reported as STALE (never as killed) and makes the audit exit with 2;
a mutant that stops pytest from running at all (an import error) is reported
as ``killed?``.

    python scripts/mutation_audit.py                 # every mutant, the default tests
    python scripts/mutation_audit.py --list          # the table of mutants
    python scripts/mutation_audit.py -m scale_python -m dv_size
    python scripts/mutation_audit.py --tests tests/test_abi_rules.py -k hh

``make mutants`` runs it (slow: minutes per mutant on two cores; it is not
part of ``make test``). Exit status: 0 if every mutant was killed, 1 if any
survived, 2 if a row is stale or the unchanged copy fails its tests.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/arbor_pycat"
RULES = f"{PACKAGE}/abi/rules.py"               # Arbor's rules, written once
FIELDS = f"{PACKAGE}/spec/fields.py"            # the field decode that applies them
PY_FIELDS = f"{PACKAGE}/backends/python/fields.py"
PY_STEPS = f"{PACKAGE}/backends/python/steps.py"
ACCESS = f"{PACKAGE}/backends/numba/access.py"
SCALAR = f"{PACKAGE}/backends/numba/entry_scalar.py"
SHIM = f"{PACKAGE}/bridge/_shim.cpp"

# The tests each mutant is run against unless --tests is given: fast cases
# that exercise the rules on both backends.
DEFAULT_TESTS = ["tests/test_abi_rules.py"]


@dataclass(frozen=True)
class Mutant:
    name: str
    rule: str
    file: str
    old: str
    new: str


MUTANTS = [
    # The rules themselves (abi/rules.py) and the decode (spec/fields.py) ...
    Mutant("scale_rule", "x10 density scale (the rule)", RULES,
           'CURRENT_SCALE = {"density": 10.0,', 'CURRENT_SCALE = {"density": 1.0,'),
    Mutant("coverage_rule", "CV-coverage weight of currents/conductance dropped (the decode)", FIELDS,
           "buffered = dict(index=Index.INSTANCE, write=Write.BUFFER, weighted=True,",
           "buffered = dict(index=Index.INSTANCE, write=Write.BUFFER, weighted=False,"),
    Mutant("point_weight_rule", "point-mechanism concentration weight 1 -> weight (the rule)", RULES,
           'return kind == "density"', "return True"),
    Mutant("ion_total_rule", "0.1 factor of ion totals (the rule)", RULES,
           "ION_TOTAL_SCALE = 0.1", "ION_TOTAL_SCALE = 1.0"),
    Mutant("write_ions_mode", "write_ions concentrations blended instead of accumulated (the decode)", FIELDS,
           "write = Write.ACCUMULATE if method == \"write_ions\" else Write.BLEND", "write = Write.BLEND"),
    Mutant("dv_size", "numeric conductance step DV 1e-3 -> 1e-2 mV (the rule)", RULES,
           "DV = 1e-3", "DV = 1e-2"),
    Mutant("dv_sign", "numeric conductance step DV 1e-3 -> -1e-3 mV (the rule)", RULES,
           "DV = 1e-3", "DV = -1e-3"),
    Mutant("range_rule", "range test checks the ends only (python Gather, mathlib.is_range)", RULES,
           "return bool(index[n - 1] - first == n - 1 and np.all(np.diff(index) == 1))",
           "return bool(index[n - 1] - first == n - 1)"),
    # ... and each backend's application of the decode.
    Mutant("scale_python", "x10 density scale not applied (python backend)", PY_STEPS,
           "return f.write_scale * self.weights(f)", "return self.weights(f)"),
    Mutant("scale_numba", "x10 density scale not applied (numba)", ACCESS,
           'ops.append((Subscript(variable, at(index)), "+=", f"{f.write_scale!r} * {weight(f, read)} * ",',
           'ops.append((Subscript(variable, at(index)), "+=", f"{weight(f, read)} * ",'),
    Mutant("coverage_python", "CV-coverage weight of currents/conductance dropped (python)", PY_FIELDS,
           "return self.weight if f.weighted else np.ones(self.width)",
           "return np.ones(self.width)"),
    Mutant("coverage_numba", "CV-coverage weight dropped (numba, both forms)", ACCESS,
           'return read("_w", "_k") if f.weighted else "1.0"', 'return "1.0"'),
    Mutant("point_weight_python", "point-mechanism concentration weight 1 -> weight (python)", PY_FIELDS,
           "return self.weight if f.weighted else np.ones(self.width)", "return self.weight"),
    Mutant("point_weight_numba", "point-mechanism concentration weight 1 -> weight (numba)", ACCESS,
           'return read("_w", "_k") if f.weighted else "1.0"', 'return read("_w", "_k")'),
    Mutant("ion_total_python", "0.1 factor of ion totals not applied (python)", PY_FIELDS,
           "np.multiply(gather.values, scale, out=values)", "values[...] = gather.values"),
    Mutant("ion_total_numba", "0.1 factor of ion totals not applied (numba)", ACCESS,
           'scale = "" if f.scale == 1.0 else f"{f.scale!r} * "', 'scale = ""'),
    Mutant("accumulate_python", "accumulate written as a blend (python)", PY_FIELDS,
           "gather.add(weights * values)", "gather.add(weights * (values - old))"),
    Mutant("accumulate_numba", "accumulate written as a blend (numba)", ACCESS,
           'return (target, "+=", f"{weight(f, read)} * ", new)',
           'return (target, "+=", f"{weight(f, read)} * ", f"{new} - {old}")'),
    Mutant("blend_python", "blend written as an accumulate (python)", PY_FIELDS,
           "gather.add(weights * (values - old))", "gather.add(weights * values)"),
    Mutant("blend_numba", "blend written as an accumulate (numba)", ACCESS,
           'return (target, "+=", f"{weight(f, read)} * ", f"{new} - {old}")',
           'return (target, "+=", f"{weight(f, read)} * ", new)'),
    Mutant("dv_formula_python", "numeric conductance divided by -DV (python)", PY_STEPS,
           "g /= DV", "g /= -DV"),
    Mutant("dv_formula_numba", "numeric conductance sign (numba scalar form)", SCALAR,
           'o(depth, f"_g = (({second}) - ({first})) / __pc_DV")',
           'o(depth, f"_g = (({first}) - ({second})) / __pc_DV")'),
    Mutant("range_shim", "contiguous-range test checks the ends only (the shim's layout bits, numba)", SHIM,
           "ok &= index[k] == first + (arb_index_type)k;",
           "ok &= index[n - 1] == first + (arb_index_type)(n - 1);"),
    Mutant("dt_refresh", "dt read once instead of at every call (python)", PY_FIELDS,
           "            self.refreshers.append(refresh)\n            return getattr(pp, f.array)",
           "            return getattr(pp, f.array)"),
]


def _copy_tree(destination):
    """The parts of the checkout the tests need, without caches and build outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
    for name in ("src", "tests", "examples"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, destination / name, ignore=ignore, symlinks=True)
    for name in ("pyproject.toml", "README.md", "setup.py"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, destination / name)
    shared = ROOT.parent / "shared"
    if shared.exists():       # the tests find shared data beside the repository
        (destination.parent / "shared").symlink_to(shared.resolve())


def _shim_name():
    import sysconfig
    return f"_shim{sysconfig.get_config_var('EXT_SUFFIX')}"


def _build_shim(tree):
    """Compile the copy's ``_shim.cpp`` in place of its shared object (as setup.py does)."""
    import importlib.util
    import sysconfig
    include = Path(importlib.util.find_spec("arbor").origin).parent / "include"
    target = tree / PACKAGE / "bridge" / _shim_name()
    command = ["g++", "-std=c++17", "-O2", "-fvisibility=hidden", "-g0", "-shared", "-fPIC",
               f"-I{include}", f"-I{sysconfig.get_paths()['include']}", str(tree / SHIM), "-o", str(target), "-Wl,--strip-all"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cannot compile the mutated shim: {result.stderr[-2000:]}")
    return target


def _check_rows(mutants, tree):
    """{name: problem} for rows whose old text is not in the file exactly once."""
    problems = {}
    for m in mutants:
        path = tree / m.file
        if not path.exists():
            problems[m.name] = f"file {m.file} not found"
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            problems[m.name] = f"old text found {count} times in {m.file}"
    return problems


def _run_tests(tree, tests, keyword, env, timeout):
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    if keyword:
        command += ["-k", keyword]
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    tail = (result.stdout + result.stderr).strip().splitlines()
    failed = next((line for line in tail if line.startswith(("FAILED", "ERROR"))), tail[-1] if tail else "")
    return result.returncode, time.monotonic() - started, failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--mutant", action="append", help="run only these mutants (by name)")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="test files/ids to run")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per test run")
    args = parser.parse_args(argv)

    mutants = MUTANTS
    if args.mutant:
        unknown = set(args.mutant) - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.name in args.mutant]
    if args.list:
        for m in mutants:
            print(f"{m.name:26} {m.file}: {m.rule}\n{'':26}   - {m.old!r}\n{'':26}   + {m.new!r}")
        return 0

    with tempfile.TemporaryDirectory(prefix="pycat_mutants_") as folder:
        tree = Path(folder) / "repo"
        tree.mkdir()
        _copy_tree(tree)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(tree / "tests")]
                                            + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        # One compile cache for all runs, not the user's: unchanged code is compiled once.
        env["ARBOR_PYCAT_CACHE_DIR"] = str(Path(folder) / "cache")
        env.setdefault("ARBOR_PYCAT_PROGRESS", "0")

        stale = _check_rows(mutants, tree)
        for name, problem in stale.items():
            print(f"STALE    {name}: {problem} (retarget this row)", flush=True)
        print(f"baseline: {' '.join(args.tests)}{' -k ' + args.keyword if args.keyword else ''}", flush=True)
        code, seconds, failed = _run_tests(tree, args.tests, args.keyword, env, args.timeout)
        if code != 0:
            print(f"the unchanged copy fails its tests ({code}, {seconds:.0f} s): {failed}")
            return 2
        print(f"baseline passes ({seconds:.0f} s)", flush=True)

        results = []
        for m in mutants:
            if m.name in stale:
                results.append((m, "STALE", stale[m.name]))
                continue
            path = tree / m.file
            original = ROOT / m.file
            path.write_text(path.read_text().replace(m.old, m.new))
            shim = None
            try:
                if m.file.endswith(".cpp"):
                    shim = tree / PACKAGE / "bridge" / _shim_name()
                    saved_shim = ROOT / PACKAGE / "bridge" / _shim_name()
                    _build_shim(tree)
                code, seconds, failed = _run_tests(tree, args.tests, args.keyword, env, args.timeout)
            except RuntimeError as exc:
                code, seconds, failed = "no build", 0.0, str(exc)
            finally:
                shutil.copy2(original, path)      # the original text and time stamp
                if shim is not None:
                    shutil.copy2(saved_shim, shim)
            if code == 0:
                verdict, detail = "SURVIVED", f"all tests pass ({seconds:.0f} s)"
            elif code == "no build":
                verdict, detail = "ERROR", failed
            elif code == 1 or code == "timeout":
                verdict, detail = "killed", f"{failed} ({seconds:.0f} s)"
            else:
                verdict, detail = "killed?", f"pytest exit {code}, not a test failure: {failed}"
            results.append((m, verdict, detail))
            print(f"{verdict:8} {m.name}: {detail}", flush=True)

    print("\nmutant                     verdict   rule")
    for m, verdict, detail in results:
        print(f"{m.name:26} {verdict:9} {m.rule}")
    survived = [m.name for m, verdict, _ in results if verdict == "SURVIVED"]
    unclear = [m.name for m, verdict, _ in results if verdict not in ("killed", "SURVIVED")]
    print(f"\n{len(results) - len(survived) - len(unclear)} killed, {len(survived)} survived"
          + (f" ({', '.join(survived)})" if survived else "")
          + (f", {len(unclear)} stale or unclear ({', '.join(unclear)})" if unclear else ""))
    if stale:
        return 2
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
