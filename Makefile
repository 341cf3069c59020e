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

# Lint and type checks (issue 15 item 8; not yet part of `test`: both still report findings in the package).
lint: install-test
	$(PYTHON) -m ruff check flowpack tests
	$(PYTHON) -m mypy

bench: install-test
	$(PYTHON) bench/run_all.py

# Argo's own validator and controller as a test referee (conformance/README.md): Go modules
# from the Go module proxy, pinned by conformance/go.sum; the binary goes to build/.
HARNESS_SOURCES := $(wildcard conformance/*.go conformance/overlay/*/*.go) conformance/go.mod conformance/go.sum conformance/build.sh

argo-harness: build/argo-harness

build/argo-harness: $(HARNESS_SOURCES)
	bash conformance/build.sh build
