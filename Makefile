# The two commands a fresh machine needs:
#   make demo   installs flowpack and runs the examples on the embedded local engine
#   make test   installs flowpack with its test tools, starts the real services the tests use, runs the tests
PYTHON ?= python3

.PHONY: install install-test services demo test bench

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	$(PYTHON) -m pip install -q -e '.[test]'

services:
	bash ci/services.sh

demo: install
	$(PYTHON) -m pip install -q -e '.[examples]'
	$(PYTHON) examples/run_examples.py

test: install-test services
	$(PYTHON) -m pytest -q -p no:cacheprovider

bench: install-test
	$(PYTHON) bench/run_all.py
