"""Builds the C++ shim that Arbor loads as a catalogue.

The shim needs Arbor's ``mechanism_abi.h``, which the ``arbor`` wheel ships
(it is a build requirement in pyproject.toml). It is a plain shared object,
not a Python extension: arbor_pycat copies it and loads it with ctypes and
``arbor.load_catalogue``.
"""
import importlib.util
import os

from setuptools import Extension, setup


def arbor_include_dir():
    spec = importlib.util.find_spec("arbor")
    if spec is None or spec.origin is None:
        raise RuntimeError("building arbor_pycat needs the arbor package (for mechanism_abi.h)")
    return os.path.join(os.path.dirname(spec.origin), "include")


setup(
    ext_modules=[
        Extension(
            "arbor_pycat.bridge._shim",
            sources=["src/arbor_pycat/bridge/_shim.cpp"],
            include_dirs=[arbor_include_dir()],
            # No debug information (it was 1.1 MB of a 1.5 MB object, copied
            # for every catalogue), and code and read-only data in one segment:
            # fewer memory maps per loaded copy.
            extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden", "-g0"],
            extra_link_args=["-Wl,--strip-all", "-Wl,-z,noseparate-code"],
            language="c++",
        )
    ]
)
