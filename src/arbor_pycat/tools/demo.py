"""``python -m arbor_pycat demo``: a Hodgkin-Huxley mechanism written in Python next to Arbor's ``hh``.

The same cell (a soma and a dendrite, HH channels everywhere, a current
clamp at the soma) is simulated twice: once with Arbor's compiled ``hh``,
once with :class:`arbor_pycat.models.HH` (``py_hh``), a line-by-line port of
``hh.mod`` in Python. The demo prints how far the two voltage traces drift
apart, the spike counts and the wall time of each run, and draws both traces
in a PNG.
"""
import argparse
import sys
import time

import numpy as np

DEFAULT_OUT = "arbor_pycat_demo.png"
DESCRIPTION = ("Simulate one cell with a Hodgkin-Huxley mechanism written in Python and with "
               "Arbor's builtin hh; print max |dV|, spike counts and wall times; plot both traces.")


def _recipe(catalogue, mechanism, cvs_per_dendrite):
    import arbor
    from arbor import units as U

    from .recipe import CableRecipe

    class DemoCell(CableRecipe):
        """Soma (Ø 12 µm) + 200 µm dendrite (Ø 2 µm), ``mechanism`` painted everywhere;
        Arbor's default catalogue plus ``catalogue``."""

        def probes(self, gid):
            return [arbor.cable_probe_membrane_voltage('"soma_mid"', "soma"),
                    arbor.cable_probe_membrane_voltage('"dend_end"', "dend")]

        def make_cell(self, gid):
            tree = arbor.segment_tree()
            soma = tree.append(arbor.mnpos, arbor.mpoint(-6, 0, 0, 6), arbor.mpoint(6, 0, 0, 6), tag=1)
            tree.append(soma, arbor.mpoint(6, 0, 0, 1), arbor.mpoint(206, 0, 0, 1), tag=3)
            labels = arbor.label_dict({"soma": "(tag 1)", "dend": "(tag 3)",
                                       "soma_mid": "(location 0 0.5)",
                                       "dend_end": '(restrict-to (terminal) (region "dend"))'})
            decor = (arbor.decor()
                     .paint("(all)", arbor.density(mechanism))
                     .place('"soma_mid"', arbor.i_clamp(10 * U.ms, 180 * U.ms, 0.2 * U.nA))
                     .place('"soma_mid"', arbor.threshold_detector(-10 * U.mV), "detector"))
            policy = arbor.cv_policy_fixed_per_branch(cvs_per_dendrite)
            return arbor.cable_cell(tree, decor, labels, discretization=policy)

    return DemoCell(catalogue)


def simulate(catalogue, mechanism, duration=200.0, dt=0.025, cvs_per_branch=8):
    """Run the demo cell with ``mechanism``; return (time, v_soma, v_dend, spikes, seconds).

    ``catalogue``: the arbor_pycat catalogue added to Arbor's default one, or None.
    """
    import arbor
    from arbor import units as U

    recipe = _recipe(catalogue, mechanism, cvs_per_branch)
    sim = arbor.simulation(recipe)
    sim.record(arbor.spike_recording.local)
    schedule = arbor.regular_schedule(0.1 * U.ms)
    soma = sim.sample((0, "soma"), schedule)
    dend = sim.sample((0, "dend"), schedule)
    start = time.perf_counter()
    sim.run(duration * U.ms, dt * U.ms)
    seconds = time.perf_counter() - start
    soma_data, _ = sim.samples(soma)[0]
    dend_data, _ = sim.samples(dend)[0]
    spikes = [float(s[1]) for s in sim.spikes()]
    return soma_data[:, 0], soma_data[:, 1], dend_data[:, 1], spikes, seconds


def plot(path, t, builtin, python, label):
    """Overlay the two soma traces and show their difference; write a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(t, builtin, color="0.2", linewidth=2.5, label="Arbor builtin hh (NMODL, compiled)")
    top.plot(t, python, color="tab:orange", linewidth=1.2, linestyle="--", label=label)
    top.set_ylabel("soma V (mV)")
    top.legend(loc="upper right", fontsize=9)
    top.set_title("Hodgkin-Huxley: Python mechanism vs Arbor's hh")
    bottom.plot(t, python - builtin, color="tab:red", linewidth=1)
    bottom.set_ylabel("difference (mV)")
    bottom.set_xlabel("time (ms)")
    bottom.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(out=DEFAULT_OUT, duration=200.0, dt=0.025, backend=None, cvs_per_branch=8, stream=None):
    """Run the demo; print the comparison to ``stream``; return a dict of the figures."""
    from .. import models
    from .._version import __version__
    from ..builder import build_with_report

    stream = stream or sys.stdout

    def say(*parts):
        print(*parts, file=stream)

    start = time.perf_counter()
    catalogue, report = (build_with_report(models.HH) if backend is None
                         else build_with_report(models.HH, backend=backend))
    build_seconds = time.perf_counter() - start
    name = models.HH.name
    used = report[name].backend          # this build's, whatever else was built meanwhile

    import arbor
    t, soma_builtin, dend_builtin, spikes_builtin, seconds_builtin = simulate(
        None, "hh", duration, dt, cvs_per_branch)
    t, soma_python, dend_python, spikes_python, seconds_python = simulate(
        catalogue, name, duration, dt, cvs_per_branch)

    max_dv = float(max(np.abs(soma_python - soma_builtin).max(),
                       np.abs(dend_python - dend_builtin).max()))
    figures = {"backend": used, "max_dv": max_dv, "build_seconds": build_seconds,
               "spikes_builtin": len(spikes_builtin), "spikes_python": len(spikes_python),
               "seconds_builtin": seconds_builtin, "seconds_python": seconds_python, "plot": None}

    cvs = 1 + cvs_per_branch
    say(f"arbor_pycat {__version__} demo, arbor {arbor.__version__}")
    say(f"cell: soma + 200 um dendrite, {cvs} CVs, HH everywhere, 0.2 nA clamp at 10-190 ms;"
        f" {duration:g} ms at dt = {dt:g} ms")
    say(f"python mechanism {name!r} built with the {used!r} backend in {build_seconds:.2f} s")
    say(f"max |dV| (soma and dendrite tip): {max_dv:.3g} mV")
    say(f"spikes: builtin hh {len(spikes_builtin)}, {name} {len(spikes_python)}")
    say(f"wall time of sim.run(): builtin hh {seconds_builtin * 1e3:.1f} ms, "
        f"{name} {seconds_python * 1e3:.1f} ms ({seconds_python / seconds_builtin:.1f}x)")

    if out:
        try:
            plot(out, t, soma_builtin, soma_python, f"{name} (Python, {used} backend)")
        except ImportError:
            say("matplotlib is not installed: no plot (pip install matplotlib)")
        else:
            figures["plot"] = out
            say(f"plot: {out}")
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m arbor_pycat demo", description=DESCRIPTION)
    add_arguments(parser)
    return run_from_arguments(parser.parse_args(argv))


def add_arguments(parser):
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"PNG file to write (default: {DEFAULT_OUT}); '' for none")
    parser.add_argument("--duration", type=float, default=200.0, help="simulated time in ms (default 200)")
    parser.add_argument("--dt", type=float, default=0.025, help="time step in ms (default 0.025)")
    parser.add_argument("--backend", choices=("auto", "numba", "python"), default=None,
                        help="backend of the Python mechanism (default: build()'s default, auto)")


def run_from_arguments(args):
    run(out=args.out, duration=args.duration, dt=args.dt, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
