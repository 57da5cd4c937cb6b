"""Launch scripts with ``mpirun`` for the MPI tests and ``make bench-mpi``.

Not a test module. :func:`mpirun` runs ``python -m mpi4py SCRIPT`` on N
ranks of this machine with a timeout that ends the whole job (mpirun and
every rank), so that a hanging job fails a test instead of blocking it.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass


def missing_mpi():
    """Why the MPI tests cannot run here (None if they can)."""
    try:
        import arbor
    except ImportError as exc:
        return f"arbor is not installed ({exc})"
    if not arbor.config().get("mpi"):
        return "this arbor is built without MPI"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed"
    if shutil.which("mpirun") is None:
        return "there is no mpirun"
    return None


def mpi_environment(extra=None):
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Open MPI refuses to run as root unless told that this is intended.
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # Containers often forbid the cross-memory attach of Open MPI's shared
    # memory transport; plain copies work everywhere.
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    env.setdefault("PYTHONFAULTHANDLER", "1")
    env.update(extra or {})
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    command: list

    def describe(self):
        return (f"$ {' '.join(self.command)}\nexit {self.returncode} after {self.seconds:.1f} s"
                f"{' (timed out)' if self.timed_out else ''}\n"
                f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}")


def mpirun(n, script, *args, timeout=300, env=None, tag_output=False, cwd=None):
    """Run ``python -m mpi4py script args`` on ``n`` ranks; return a :class:`Result`.

    ``--oversubscribe`` lets n exceed the cores; ``--tag-output`` prefixes
    each line with ``[jobid,rank]<stdout|stderr>:``. After ``timeout``
    seconds, mpirun is asked to stop (SIGTERM: it kills its ranks), then its
    whole process group is killed.
    """
    # Open MPI's default binding (a rank per core; none when oversubscribed):
    # `--bind-to none` makes 2 ranks on 2 cores 3-5x slower (measured).
    command = ["mpirun", "-n", str(n), "--oversubscribe"]
    if tag_output:
        command.append("--tag-output")
    command += [sys.executable, "-m", "mpi4py", str(script), *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpi_environment(env), cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    return Result(proc.returncode, out, err, time.monotonic() - start, timed_out, command)
