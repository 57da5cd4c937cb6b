#!/usr/bin/env python3
"""Set up a virtual environment with an MPI-enabled Arbor and arbor_pycat.

The arbor wheel on PyPI is built without MPI. This script (run by
``make test-mpi`` and ``make bench-mpi``) does everything from the package
registries only:

1. installs Open MPI and the C++ libraries Arbor needs from Debian's
   packages (``apt-get``; only those missing, and only as root);
2. creates the virtual environment (default ``.venv-mpi``) with the build
   tools from PyPI, and mpi4py built from source against the system MPI;
3. builds a wheel of Arbor from the source distribution on PyPI with
   ``ARB_WITH_MPI=ON`` and its Python bindings, unless one built with the
   same version and options is in the cache (``$ARBOR_PYCAT_MPI_CACHE``,
   default ``$XDG_CACHE_HOME/arbor_pycat/arbor-mpi`` or
   ``~/.cache/arbor_pycat/arbor-mpi``);
4. installs that wheel and arbor_pycat (from this checkout) into the
   environment, and checks that ``arbor.config()`` reports MPI and mpi4py.

Arbor's CMake would download its dependencies from GitHub. Here nothing
is downloaded but packages: Debian has fmt, random123, nlohmann-json,
pugixml, googletest and google-benchmark; LLNL units comes from its PyPI
source distribution (``units-llnl``); for unordered_dense and tinyopt, which
are in no registry, ``scripts/arbor_mpi/`` has small stand-ins that provide
the part of their interface Arbor's sources use, and replaces Arbor's
``cmake/CPM.cmake`` with one that never downloads.

A cold build takes a few minutes of CPU (it runs under ``nice``); with the
wheel cached, the whole script takes seconds once the environment exists.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

ARBOR_VERSION = "0.12.1"      # the newest 0.12 with a source distribution on PyPI
UNITS_VERSION = "0.13.1"      # the LLNL units version Arbor 0.12 asks for
MPI4PY = "mpi4py>=4,<5"
BUILD_TOOLS = ["scikit-build-core>=0.10", "cmake>=4", "ninja", "pybind11>=3,<4",
               "setuptools>=77", "wheel", "build", "cython>=3.0.1", "numpy>=1.24"]

# Debian package -> what it is for
DEBIAN_PACKAGES = {
    "openmpi-bin": "mpirun",
    "libopenmpi-dev": "MPI headers and mpicc (Arbor, mpi4py)",
    "libfmt-dev": "fmt",
    "librandom123-dev": "random123",
    "nlohmann-json3-dev": "nlohmann-json",
    "libpugixml-dev": "pugixml",
    "libgtest-dev": "googletest (found by Arbor's CMake; its tests are not built)",
    "libbenchmark-dev": "google-benchmark (likewise)",
    "g++": "the C++ compiler",
    "python3-dev": "Python headers",
}

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STANDINS = HERE / "arbor_mpi"
# Bump when the build recipe changes in a way the key below does not see.
RECIPE_VERSION = 1


_START = time.monotonic()


def log(message):
    print(f"[arbor-mpi {time.monotonic() - _START:5.0f} s] {message}", flush=True)


def run(cmd, **kwargs):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def output(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def dpkg_version(package):
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", package],
                                capture_output=True, text=True)
    except FileNotFoundError:
        return None
    if result.returncode != 0:
        return None
    status, _, version = result.stdout.partition("|")
    return version if status.endswith(" installed") else None


# ---------------------------------------------------------------- system packages

def ensure_debian_packages():
    missing = [p for p in DEBIAN_PACKAGES if dpkg_version(p) is None]
    if not missing:
        log("Debian packages: all present")
        return
    if shutil.which("apt-get") is None:
        sys.exit("[arbor-mpi] this needs Debian's packages " + " ".join(missing)
                 + " (or the same libraries installed otherwise), and there is no apt-get")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        sys.exit("[arbor-mpi] missing Debian packages; as root, run:\n  apt-get update && "
                 + " ".join(command))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("installing " + ", ".join(f"{p} ({DEBIAN_PACKAGES[p]})" for p in missing))
    run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    run(command, env=env, stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- environment

def venv_python(venv):
    return venv / "bin" / "python"


def pip(venv, *args, **kwargs):
    return run([venv_python(venv), "-m", "pip", *args], **kwargs)


def ensure_venv(venv, python):
    py = venv_python(venv)
    if not py.exists():
        run([python, "-m", "venv", venv])
        pip(venv, "install", "-q", "--upgrade", "pip")
    marker = venv / ".arbor-mpi-tools"
    if not marker.exists():
        pip(venv, "install", "-q", *BUILD_TOOLS)
        # mpi4py from source, compiled with the system's mpicc: a binary wheel
        # might bring its own MPI, which mpirun's would not talk to.
        pip(venv, "install", "-q", "--no-binary", "mpi4py", "--no-build-isolation", MPI4PY)
        marker.write_text("ok\n")
    else:
        log(f"{venv}: build tools and mpi4py present")


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor()


def cmake_defines(arch):
    return {
        "ARB_WITH_MPI": "ON",
        "ARB_WITH_PYTHON": "ON",
        "ARB_BUILD_PYTHON_STUBS": "OFF",
        "ARB_VECTORIZE": "ON",
        "ARB_ARCH": arch,
        "BUILD_DOCUMENTATION": "OFF",
        # Arbor's test targets are excluded from `all`; BUILD_TESTING only
        # has to be on because python/test refers to the `tests` target.
        "BUILD_TESTING": "ON",
        # Link-time optimisation would double the build time on small machines.
        "CMAKE_INTERPROCEDURAL_OPTIMIZATION": "OFF",
    }


def standins_digest():
    digest = hashlib.sha256()
    for path in sorted(STANDINS.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(STANDINS)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_key(venv, arch):
    """What the wheel depends on; the cache entry's name is its hash."""
    py = venv_python(venv)
    info = json.loads(output([py, "-c",
        "import json, sys, sysconfig, pybind11, mpi4py; print(json.dumps({"
        "'python': sys.implementation.cache_tag, 'platform': sysconfig.get_platform(), "
        "'pybind11': pybind11.__version__, 'mpi4py': mpi4py.__version__}))"]))
    key = {
        "recipe": RECIPE_VERSION,
        "arbor": ARBOR_VERSION,
        "units": UNITS_VERSION,
        "defines": cmake_defines(arch),
        "cpu": hashlib.sha256(cpu_flags().encode()).hexdigest()[:16] if arch == "native" else arch,
        "compiler": output(["c++", "-dumpfullversion"]),
        "debian": {p: dpkg_version(p) for p in DEBIAN_PACKAGES if p.startswith("lib")},
        "standins": standins_digest(),
        **info,
    }
    text = json.dumps(key, sort_keys=True)
    name = f"arbor-{ARBOR_VERSION}-mpi-{info['python']}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return name, key


def cache_root():
    if os.environ.get("ARBOR_PYCAT_MPI_CACHE"):
        return Path(os.environ["ARBOR_PYCAT_MPI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "arbor_pycat" / "arbor-mpi"


def cached_wheel(entry):
    wheels = sorted(entry.glob("arbor-*.whl")) if entry.is_dir() else []
    return wheels[0] if wheels else None


# ---------------------------------------------------------------- the build

def check_standins(work):
    """Compile and run the stand-ins' own test (a second)."""
    exe = work / "standins_test"
    run(["c++", "-std=c++20", "-O1", "-Wall", "-Wextra", "-Werror",
         "-I", STANDINS / "tinyopt" / "include", "-I", STANDINS / "unordered_dense" / "include",
         STANDINS / "standins_test.cpp", "-o", exe])
    run([exe], stdout=subprocess.DEVNULL)


def download_sdist(venv, requirement, dest):
    pip(venv, "download", "-q", "--no-deps", "--no-build-isolation",
        "--no-binary", requirement.split("=")[0], "-d", dest, requirement)
    found = [p for p in dest.iterdir() if p.name.endswith(".tar.gz")]
    if len(found) != 1:
        raise RuntimeError(f"expected one source distribution for {requirement} in {dest}: {found}")
    return found[0]


def extract(archive, dest):
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def stream_build(cmd, logfile, env):
    """Run the build under nice, log everything, print progress every 20 s."""
    log("$ " + " ".join(str(c) for c in cmd))
    log(f"build log: {logfile}")
    start = last = time.monotonic()
    progress = ""
    with open(logfile, "w") as out:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env,
                                preexec_fn=lambda: os.nice(10))
        for line in proc.stdout:
            out.write(line)
            stripped = line.strip()
            if stripped.startswith("[") and "/" in stripped.split("]")[0]:
                progress = stripped.split("]")[0] + "]"
            now = time.monotonic()
            if now - last >= 20:
                log(f"building ... {now - start:.0f} s {progress}")
                last = now
        rc = proc.wait()
    if rc != 0:
        lines = Path(logfile).read_text(errors="replace").splitlines()
        print("\n".join(lines[-60:]), file=sys.stderr)
        kept = Path(logfile).parent.parent / "failed-build.log"    # the work folder is removed
        shutil.copyfile(logfile, kept)
        sys.exit(f"[arbor-mpi] the Arbor build failed (exit {rc}); full log: {kept}")
    log(f"Arbor built in {time.monotonic() - start:.0f} s")


def build_wheel(venv, entry, key, jobs):
    root = entry.parent
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        check_standins(work)
        downloads = work / "downloads"
        downloads.mkdir()
        (downloads / "arbor").mkdir()
        (downloads / "units").mkdir()
        arbor_src = extract(download_sdist(venv, f"arbor=={ARBOR_VERSION}", downloads / "arbor"),
                            work / "arbor-src")
        units_src = extract(download_sdist(venv, f"units-llnl=={UNITS_VERSION}", downloads / "units"),
                            work / "units-src")
        shutil.copyfile(STANDINS / "CPM.cmake", arbor_src / "cmake" / "CPM.cmake")

        py = venv_python(venv)
        pybind11_dir = output([py, "-c", "import pybind11; print(pybind11.get_cmake_dir())"])
        defines = dict(key["defines"])
        defines.update({
            "CPM_units_SOURCE": str(units_src),
            "CPM_unordered_dense_SOURCE": str(STANDINS / "unordered_dense"),
            "CPM_tinyopt_SOURCE": str(STANDINS / "tinyopt"),
            "CPM_googletest_PACKAGE": "GTest",
            "CPM_random123_PACKAGE": "Random123",   # Arbor's own find module
            "pybind11_DIR": pybind11_dir,
            "Python3_EXECUTABLE": str(py),
        })
        settings = [f"--config-settings=cmake.define.{k}={v}" for k, v in defines.items()]
        settings += ["--config-settings=cmake.build-type=release",
                     f"--config-settings=build-dir={work / 'build'}",
                     "--config-settings=build.verbose=true"]
        env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(jobs),
                   PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("CMAKE_ARGS", None)
        dist = work / "dist"
        stream_build([py, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-v",
                      "-w", dist, *settings, arbor_src], work / "build.log", env)
        (wheel,) = dist.glob("arbor-*.whl")

        staging = Path(tempfile.mkdtemp(prefix="entry-", dir=root))
        staging.chmod(0o755)
        shutil.copy2(wheel, staging / wheel.name)
        shutil.copy2(work / "build.log", staging / "build.log")
        (staging / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")
        try:
            os.replace(staging, entry)      # atomic: a cache entry is whole or absent
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)   # another build finished first
            if cached_wheel(entry) is None:
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached_wheel(entry)


# ---------------------------------------------------------------- installation

def install(venv, wheel, extras):
    stamp = venv / ".arbor-mpi-wheel"
    if not stamp.exists() or stamp.read_text().strip() != str(wheel):
        pip(venv, "install", "-q", "--no-deps", "--force-reinstall", wheel)
        stamp.write_text(f"{wheel}\n")
    else:
        log(f"arbor from {wheel.name} already installed")
    # arbor_pycat compiles its shim against the arbor installed here (no
    # build isolation); not editable, so that it does not share the shim
    # built in the checkout with another environment.
    pip(venv, "install", "-q", "--no-build-isolation", "--force-reinstall", "--no-deps", REPO)
    pip(venv, "install", "-q", f"{REPO}[{extras}]" if extras else REPO, "--no-build-isolation")
    check = ("import arbor, mpi4py, arbor_pycat; c = arbor.config(); "
             "assert c['mpi'] and c['mpi4py'], c; "
             "print('arbor', arbor.__version__, 'mpi', c['mpi'], 'mpi4py', mpi4py.__version__, "
             "'arbor_pycat', arbor_pycat.__file__)")
    run([venv_python(venv), "-c", check])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", default=str(REPO / ".venv-mpi"), help="the environment (default .venv-mpi)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the environment is made from (default: this one)")
    parser.add_argument("--arch", default="native",
                        help="ARB_ARCH: the CPU Arbor is compiled for (default native: this machine's)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs")
    parser.add_argument("--extras", default="test", help="arbor_pycat extras to install (default: test)")
    parser.add_argument("--rebuild", action="store_true", help="build the wheel even if it is cached")
    parser.add_argument("--no-apt", action="store_true", help="do not install Debian packages")
    args = parser.parse_args(argv)

    start = time.monotonic()
    venv = Path(args.venv).resolve()
    if not args.no_apt:
        ensure_debian_packages()
    ensure_venv(venv, args.python)
    name, key = build_key(venv, args.arch)
    entry = cache_root() / name
    wheel = None if args.rebuild else cached_wheel(entry)
    if wheel is not None:
        log(f"cached wheel: {wheel}")
    else:
        if args.rebuild and entry.exists():
            shutil.rmtree(entry)
        log(f"building Arbor {ARBOR_VERSION} with MPI into {entry} (a few minutes)")
        wheel = build_wheel(venv, entry, key, args.jobs)
    install(venv, wheel, args.extras)
    log(f"ready: {venv} ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(f"[arbor-mpi] failed (exit {error.returncode}): "
                 + " ".join(str(c) for c in error.cmd))
