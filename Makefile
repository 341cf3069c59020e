# The two commands a fresh machine needs:
#   make demo   installs flowpack and runs the examples on the embedded local engine
#   make test   installs flowpack with its test tools, starts the real services the tests use, runs the tests
PYTHON ?= python3

.PHONY: install install-test services demo test lint bench argo-harness

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	$(PYTHON) -m pip install -q -e '.[test]'

services:
	bash ci/services.sh

demo: install
	$(PYTHON) -m pip install -q -e '.[examples]'
	$(PYTHON) examples/run_examples.py

test: install-test services argo-harness
	$(PYTHON) -m pytest -q -p no:cacheprovider

# Lint and type checks: ruff over the package and the tests, mypy over the package (pyproject.toml pins both).
# CI (.ci/run) runs it after the tests; a finding fails CI.
lint: install-test
	$(PYTHON) -m ruff check flowpack tests
	$(PYTHON) -m mypy

bench: install-test
	$(PYTHON) bench/run_all.py

# Argo's own validator and controller as a test referee (conformance/README.md), one binary per
# pinned Argo version: the default (v4) by conformance/go.mod and go.sum -> build/argo-harness,
# each other version by conformance/go.VERSION.mod and go.VERSION.sum -> build/argo-harness-VERSION.
# Go modules come from the Go module proxy; the builds run one after the other (each uses both cores).
HARNESS_SOURCES := $(wildcard conformance/*.go conformance/overlay/*/*.go) conformance/build.sh
ARGO_VERSIONS := $(patsubst conformance/go.%.mod,%,$(wildcard conformance/go.v*.mod))

argo-harness: build/argo-harness $(ARGO_VERSIONS:%=build/argo-harness-%)

build/argo-harness: $(HARNESS_SOURCES) conformance/go.mod conformance/go.sum
	bash conformance/build.sh build

build/argo-harness-%: $(HARNESS_SOURCES) conformance/go.%.mod conformance/go.%.sum
	bash conformance/build.sh build $*
