"""``arbor_pycat.compare``'s signature and labels, and ``python -m arbor_pycat info``."""
import inspect
import pydoc
import subprocess
import sys
import textwrap

import numpy as np

import arbor_pycat
from arbor_pycat.comparison import Comparison
from pycat_cell import check_snippet


def test_compare_has_its_real_signature_and_docstring():
    parameters = inspect.signature(arbor_pycat.compare).parameters
    assert list(parameters)[:3] == ["mechanism", "reference", "catalogue"]
    assert {"cvs", "duration", "backend", "plot"} <= set(parameters)
    text = pydoc.render_doc(arbor_pycat.compare, renderer=pydoc.plaintext)
    assert ("compare(mechanism: type, reference: str | None = None, catalogue: "
            "'arbor.catalogue | None' = None, *, cvs: int = 1") in text
    assert "its compiled twin" in text


def test_comparison_module_is_an_attribute_in_a_fresh_session():
    result = check_snippet("import arbor_pycat, pydoc\n"
                           "text = pydoc.render_doc(arbor_pycat.comparison.compare)\n"
                           "assert 'duration: float = 200.0' in text, text\n"
                           "print(arbor_pycat.comparison.Comparison.__name__)\n")
    assert result.stdout.strip() == "Comparison"


def comparison(backend):
    t = np.arange(4.0)
    v = np.zeros((4, 1))
    return Comparison(mechanism="custom_hh", reference="hh", kind="density", backend=backend, cvs=1,
                      cells=1, duration=200.0, dt=0.025, threads=1, time=t, v_reference=v,
                      v_python=v + 1e-9, spikes_reference=[[1.0, 5.0]], spikes_python=[[1.0, 5.5]],
                      seconds_reference=0.5, seconds_python=1.0)


def test_summary_labels_every_figure_with_the_backend_that_ran():
    text = str(comparison("numba"))
    assert "'custom_hh' (numba backend) vs compiled 'hh'" in text
    assert "spikes 2 ('hh') vs 2 ('custom_hh', numba)" in text
    assert "Run time 0.5 s ('hh') vs 1 s ('custom_hh', numba): 2x." in text
    assert "(python)" not in text and "(reference)" not in text
    assert "spikes 2 ('hh') vs 2 ('custom_hh', python)" in str(comparison("python"))


MECHANISMS = '''
import numpy as np
import arbor_pycat


class Leak(arbor_pycat.CustomMechanism):
    """A leak with reversal potential e."""
    name = "info_leak"
    parameters = [("g", "S/cm2", 0.001), ("e", "mV", -65.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g


class Ca(arbor_pycat.CustomMechanism):
    name = "info_ca"
    state_vars = [("s", "", 0.0)]
    ions = [arbor_pycat.IonInfo("ca")]

    def advance_state(self, pp):
        pp.s = np.sum(pp.cai) + self.offset[0]

    offset = [0.0]
'''


def run_info(tmp_path, *arguments):
    path = tmp_path / "mechs.py"
    path.write_text(textwrap.dedent(MECHANISMS))
    result = subprocess.run([sys.executable, "-m", "arbor_pycat", "info", str(path), *arguments],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_info_describes_declarations_backends_and_forms(tmp_path):
    out = run_info(tmp_path)
    leak, ca = out.split("\n\n")
    assert leak.startswith("Leak (module ") and "mechs.py line 6" in leak.splitlines()[0]
    assert "A leak with reversal potential e." in leak
    assert "name 'info_leak', kind density" in leak
    assert "parameters: g [S/cm2] = 0.001, e [mV] = -65" in leak
    assert "compute_currents  numba, scalar: element-wise" in leak
    assert "built with the numba backend" in leak
    assert "ions:       ca (reads cai; writes no concentration)" in ca
    assert "advance_state  python: advance_state uses 'self' (line 22)" in ca
    assert "built with the python backend" in ca


def test_info_without_building(tmp_path):
    out = run_info(tmp_path, "--no-build")
    assert "compute_currents  numba, scalar" in out and "not built: --no-build" in out
    assert "built with" not in out


def test_info_of_a_module_and_errors():
    result = subprocess.run([sys.executable, "-m", "arbor_pycat", "info", "arbor_pycat.models.pas",
                             "--no-build"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "name 'py_pas', kind density" in result.stdout, result.stderr
    result = subprocess.run([sys.executable, "-m", "arbor_pycat", "info", "no_such_module_xyz"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "cannot load no_such_module_xyz" in result.stderr
