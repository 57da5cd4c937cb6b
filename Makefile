# Everything a fresh machine needs: `make demo`, `make test`, `make bench`,
# and with MPI: `make test-mpi`, `make bench-mpi`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The MPI environment: an Arbor built with MPI (cached wheel), mpi4py, arbor_pycat.
MPI_VENV := .venv-mpi
MPI_PY := $(MPI_VENV)/bin/python
MPI_STAMP := $(MPI_VENV)/.installed
MPI_INPUTS := scripts/build_arbor_mpi.py $(shell find scripts/arbor_mpi -type f) \
	pyproject.toml setup.py $(shell find src -name '*.py' -o -name '*.cpp')

.PHONY: install demo test bench mutants clean mpi-install test-mpi bench-mpi

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/arbor_pycat/bridge/_shim.cpp
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

demo: install
	$(PY) -m arbor_pycat demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

# Mutation audit of the ABI rules (slow; not part of `make test`): applies each
# hand-made mutant to a temporary copy of the tree and runs tests/test_abi_rules.py.
mutants: install
	nice -n 10 $(PY) scripts/mutation_audit.py $(MUTANTS_ARGS)

# apt-installs Open MPI and Arbor's C++ dependencies if missing, builds (or
# takes from the cache) an Arbor wheel with MPI, installs it, mpi4py and
# arbor_pycat into .venv-mpi; see scripts/build_arbor_mpi.py.
mpi-install: $(MPI_STAMP)

$(MPI_STAMP): $(MPI_INPUTS)
	$(PYTHON) scripts/build_arbor_mpi.py --venv $(MPI_VENV)
	touch $(MPI_STAMP)

test-mpi: mpi-install
	$(MPI_PY) -m pytest -q tests_mpi

bench-mpi: mpi-install
	$(MPI_PY) benchmarks/mpi_scaling.py

clean:
	rm -rf $(VENV) $(MPI_VENV) build src/*.egg-info src/arbor_pycat/bridge/_shim*.so .pytest_cache
