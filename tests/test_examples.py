"""Every script of examples/ runs as a user runs it and prints what its docstring promises.

Each runs in a fresh interpreter with its figure written to a temporary folder
(nothing is written into the checkout). The checks read the printed figures:
they fail if a mechanism computes something else than the physics it models.
"""
import re
from pathlib import Path

import pytest

from pycat_cell import check_snippet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# ring_mpi needs an Arbor built with MPI and mpi4py: tests_mpi/ runs it (make test-mpi).
MPI_ONLY = {"ring_mpi"}
SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py") if p.stem not in MPI_ONLY)


def run_example(name, tmp_path, *arguments):
    figure = tmp_path / f"{name}.png"
    code = (f"import runpy, sys\nsys.argv = [{str(EXAMPLES / (name + '.py'))!r}, '--out', {str(figure)!r}"
            + "".join(f", {a!r}" for a in arguments) + "]\n"
            f"runpy.run_path(sys.argv[0], run_name='__main__')\n")
    result = check_snippet(code, timeout=180, env={"MPLBACKEND": "Agg"})
    assert figure.is_file() and figure.stat().st_size > 10_000, f"{name}: no figure\n{result.stdout}"
    assert "falling back" not in result.stderr, result.stderr    # numba compiles every example
    assert "backend: numba" in result.stdout, result.stdout
    return result.stdout


def numbers(pattern, text):
    return [tuple(float(x) for x in match) if isinstance(match, tuple) else float(match)
            for match in re.findall(pattern, text)]


def test_every_example_is_checked():
    assert set(SCRIPTS) == set(CHECKS), "a new example needs a check in CHECKS"


def check_density_channel(out):
    alone, channel = [list(map(float, line.split(":")[2].replace("...", " ").split()))
                      for line in out.splitlines() if "interspike" in line]
    assert max(alone[1:]) - min(alone[1:]) < 0.2            # hh alone: regular firing
    assert channel[-1] > channel[0] + 0.5                   # with the M-current: adaptation
    m_rest, m_max = numbers(r"gate m: ([\d.]+) at rest, ([\d.]+) at most", out)[0]
    assert m_rest == pytest.approx(1 / (1 + 2.718281828 ** 3), abs=2e-3) and m_max > 0.3


def check_synapse(out):
    assert numbers(r"peak conductance ([\d.]+) uS", out)[0] == pytest.approx(0.0104, abs=2e-4)
    assert 5 < numbers(r"PSP of ([\d.]+) mV", out)[0] < 40


def check_reversal_potential(out):
    pairs = numbers(r"ena = ([-\d.]+) mV \(Nernst in Python: ([-\d.]+) mV\)", out)
    assert len(pairs) == 2
    for probed, formula in pairs:
        assert probed == pytest.approx(formula, abs=1e-6)
    peaks = numbers(r"spike peak ([-\d.]+) mV", out)
    assert peaks[0] > peaks[1] + 5                           # lower nao: lower ena, lower peak


def check_gap_junction(out):
    spikes = numbers(r"cell \d: (\d+) spikes", out)
    assert spikes[0] >= 2 and spikes[1] == spikes[0]
    assert 0 < numbers(r"follows cell 0's by ([\d.]+) ms", out)[0] < 5


def check_voltage_clamp(out):
    low, high = numbers(r"v from ([-\d.]+) to ([-\d.]+) mV after", out)[0]
    assert low == high == -50.0
    steps = numbers(r"held within ([\d.e+-]+) mV; peak ina ([-+\d.]+) .*? ik at the end of the step "
                    r"([-+\d.]+)", out)
    assert len(steps) == 4
    assert all(held < 1e-9 for held, _, _ in steps)
    assert all(ina < -1 for _, ina, _ in steps)              # a transient inward Na+ current
    iks = [ik for _, _, ik in steps]
    assert iks == sorted(iks) and iks[0] > 0                  # outward K+ current grows with v


def check_noisy_current(out):
    mean, std = numbers(r"I: mean ([-+\d.]+) nA, standard deviation ([\d.]+) nA", out)[0]
    assert abs(mean) < 0.02 and std == pytest.approx(0.05, rel=0.2)
    assert numbers(r"cells 0 and 1 differ by up to ([\d.]+) mV", out)[0] > 0.5
    same, other = numbers(r"traces differ by ([\d.e+-]+) mV; seed 42 vs 7: by up to ([\d.]+) mV", out)[0]
    assert same == 0 and other > 0.5


def check_stdp(out):
    rows = [tuple(map(float, line.split())) for line in out.splitlines()
            if re.match(r"^\s*[-+][\d.]+\s+[-+][\d.]+\s+[-+][\d.]+\s*$", line)]
    assert len(rows) == 11
    for dt, measured, expected in rows:
        assert (measured > 0) == (dt > 0)
        assert measured == pytest.approx(expected, rel=0.02, abs=2e-6)


CHECKS = {"density_channel": check_density_channel, "synapse": check_synapse,
          "reversal_potential": check_reversal_potential, "gap_junction": check_gap_junction,
          "voltage_clamp": check_voltage_clamp, "noisy_current": check_noisy_current, "stdp": check_stdp}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example(name, tmp_path):
    CHECKS[name](run_example(name, tmp_path))
