"""Arbor's BluePyOpt L5PC example (../shared/models/l5pc, 14k CVs) with every bbp
mechanism imported from its .mod file by arbor_pycat.nmodl (numba backend), against
Arbor's compiled bbp catalogue: paired wall times of sim.run() and the largest voltage
difference.   usage: python benchmarks/l5pc.py [T_END_MS] [ROUNDS]"""
import importlib.util
import os
import statistics
import sys
import time

import arbor
import numpy as np

from arbor_pycat import nmodl

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, os.pardir, os.pardir, "shared")


def main(t_end=100.0, rounds=3):
    path = os.path.join(SHARED, "models", "l5pc", "l5pc_model.py")
    mods = os.path.join(SHARED, "nmodl", "arbor", "bbp")
    if not (os.path.exists(path) and os.path.isdir(mods)):
        print(f"L5PC: skipped ({os.path.normpath(path)} or the bbp .mod files are not here)")
        return 0
    spec = importlib.util.spec_from_file_location("l5pc_model", path)
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    start = time.perf_counter()
    imported = arbor.catalogue()
    imported.extend(arbor.default_catalogue(), "default::")
    imported.extend(nmodl.build(mods, backend="numba"), "BBP::")
    build_s = time.perf_counter() - start
    cell = model.make_cell(t_stim=20.0)          # the example's stimulus, moved to 20 ms
    compiled = model.compiled_catalogue()
    model.run(compiled, tfinal=5.0, cell=cell), model.run(imported, tfinal=5.0, cell=cell)   # warm-up
    ratios, dv = [], 0.0
    for _ in range(rounds):
        reference = model.run(compiled, tfinal=t_end, cell=cell)
        ours = model.run(imported, tfinal=t_end, cell=cell)
        ratios.append(ours["wall"] / reference["wall"])
        dv = max(dv, float(np.max(np.abs(reference["soma"] - ours["soma"]))),
                 float(np.max(np.abs(reference["dend1"] - ours["dend1"]))))
    print(f"L5PC {t_end:g} ms: imported bbp (numba) / compiled bbp median {statistics.median(ratios):.2f} "
          f"[{', '.join(f'{r:.2f}' for r in ratios)}], max |dV| {dv:.1e} mV, spikes "
          f"{len(ours['spikes'])} vs {len(reference['spikes'])}, import+build {build_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(float(a) for a in sys.argv[1:2]), *(int(a) for a in sys.argv[2:3])))
