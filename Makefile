# The two commands of the README: `make demo` (the end-to-end demo on the mockup beamline) and
# `make test` (the whole test suite with coverage). Both install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
COVERAGE_FLOOR ?= 90
DEMO_DIR ?= demo-output

.PHONY: browser-deps bootstrap demo test soak test-compat audit bench mutation clean

bootstrap:
	@bash scripts/bootstrap.sh

# Debian's chromium, Node.js/npm and `npm ci` in tests/browser, for the browser test
browser-deps:
	@bash scripts/browser_deps.sh

demo: bootstrap
	$(VENV)/bin/mxcube-interleave demo --output $(DEMO_DIR)

test: bootstrap browser-deps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest --cov=mxcubecore_interleave --cov-report=term \
		--cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

# the long fault and fuzz loops (docs/reliability.md): many kill -9s, stops and hypothesis examples
# (stops and kills of the collection: tests/test_collection_stop_kill.py, ~15 min)
soak: bootstrap
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "soak or not soak" -s --timeout=3600 $(PYTEST_ARGS) tests/test_repackage_faults.py
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "soak or not soak" -s --timeout=3600 $(PYTEST_ARGS) tests/test_collection_stop_kill.py
	QT_QPA_PLATFORM=offscreen HYPOTHESIS_PROFILE=soak $(PY) -m pytest -s --timeout=3600 $(PYTEST_ARGS) tests/test_fuzz_cli.py

# the suite against the lowest mxcubecore pyproject.toml declares, in a second venv (.venv-compat)
test-compat: bootstrap
	@bash scripts/test_compat.sh

audit: bootstrap
	$(VENV)/bin/pip-audit --local --skip-editable

bench: bootstrap
	$(PY) benchmarks/run_all.py

# mutation testing of the pure core (docs/testing.md); not part of `make test`. MODULES=interleave/cost.py ...
mutation: bootstrap
	@$(PY) -c "import mutmut" 2>/dev/null || $(PY) -m pip install -q -e ".[test,mutation]"
	$(PY) scripts/mutation.py $(MODULES) $(MUTATION_ARGS)

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .coverage htmlcov
