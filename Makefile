# The two commands a newcomer needs: `make demo` and `make test`. Each builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml setup.py requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e . -r requirements-test.txt
	touch $(STAMP)

## demo: autofocus a simulated camera, printed as it runs
demo: $(STAMP)
	$(PY) -m octoprint_pifocus demo

## test: the whole test suite
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## bench: the benchmarks; figures go into bench/results/ and the README
bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
