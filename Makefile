# Everything a fresh machine needs: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/arbor_pycat/_shim.cpp
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

clean:
	rm -rf $(VENV) build src/*.egg-info src/arbor_pycat/_shim*.so .pytest_cache
