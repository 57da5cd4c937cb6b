"""``python -m arbor_pycat demo``: runs, agrees with Arbor's hh, writes a PNG."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")


def _demo(tmp_path, *arguments):
    result = subprocess.run([sys.executable, "-m", "arbor_pycat", "demo", *arguments],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _figure(output, label):
    line = next(line for line in output.splitlines() if line.startswith(label))
    return line[len(label):].strip()


@pytest.mark.parametrize("backend", ["python", None])
def test_demo_runs_and_writes_the_plot(tmp_path, backend):
    arguments = ["--out", "trace.png", "--duration", "60"]
    if backend:
        arguments += ["--backend", backend]
    output = _demo(tmp_path, *arguments)
    max_dv = float(_figure(output, "max |dV| (soma and dendrite tip):").split()[0])
    assert max_dv < 2e-9, output     # checks.V_TOLERANCE
    counts = _figure(output, "spikes:")
    builtin, python = (int(part.split()[-1]) for part in counts.split(","))
    assert builtin == python >= 3, output
    assert "wall time of sim.run(): builtin hh" in output
    # the default (auto) must compile with numba: a silent fall-back to python fails here
    used = "python" if backend == "python" else "numba"
    assert f"built with the '{used}' backend" in output, output
    png = tmp_path / "trace.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_default_file_name(tmp_path):
    output = _demo(tmp_path, "--duration", "20", "--backend", "python")
    assert (tmp_path / "arbor_pycat_demo.png").exists(), os.listdir(tmp_path)
    assert "plot: arbor_pycat_demo.png" in output


def test_demo_without_a_plot(tmp_path):
    output = _demo(tmp_path, "--out", "", "--duration", "20", "--backend", "python")
    assert "plot:" not in output
    assert os.listdir(tmp_path) == []


def test_command_line_help():
    result = subprocess.run([sys.executable, "-m", "arbor_pycat", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "demo" in result.stdout
