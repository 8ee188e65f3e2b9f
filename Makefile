# The two commands of the README: `make demo` (install, then run on the built-in defaults) and
# `make test` (install with test extras, then run the tests). Everything else is for developers.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEMO ?= demo-output

.PHONY: install install-dev demo test completions benchmark clean

install:
	$(PIP) install -q -e .

install-dev:
	$(PIP) install -q -e '.[dev]'

demo: install
	bat simulate examples/simulate.yaml -o $(DEMO)/data
	head -n 3 $(DEMO)/data/qa.jsonl

test: install-dev
	$(PYTHON) -m pytest

completions:
	$(PYTHON) -m batcli.completions --write completions

benchmark: install
	$(PYTHON) benchmarks/simulate.py

clean:
	rm -rf $(DEMO) build *.egg-info .pytest_cache
