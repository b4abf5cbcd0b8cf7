# The two commands a newcomer needs: `make demo` and `make test`. Each builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-cli test test-py39 test-old-octoprint system-deps bench translations clean

$(STAMP): pyproject.toml setup.py requirements-test.txt
	scripts/system-deps.sh build "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e . -r requirements-test.txt
	touch $(STAMP)

## demo: OctoPrint with PiFocus on a simulated camera and printer, on http://127.0.0.1:5000
demo: $(STAMP)
	$(PY) scripts/demo.py

## demo-cli: the engine alone: autofocus a simulated lens, printed as it runs
demo-cli: $(STAMP)
	$(PY) -m octoprint_pifocus demo

## test: the whole test suite (installs Chromium from Debian for the browser tests)
test: $(STAMP) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

## test-py39: the whole suite again on Python 3.9, what OctoPi ships (in .venv39)
test-py39:
	$(MAKE) test PYTHON="$$(scripts/find-python.sh 3.9)" VENV=.venv39

## test-old-octoprint: on OctoPrint 1.8.7, PiFocus refuses to load with one log line (needs Python 3.9)
test-old-octoprint:
	"$$(scripts/find-python.sh 3.9)" scripts/check-old-octoprint.py

system-deps:
	scripts/system-deps.sh test

## bench: the benchmarks; paste the tables into the README
bench: $(STAMP)
	cd bench && ../$(PY) measures.py && ../$(PY) scoring_speed.py && ../$(PY) search.py

## translations: re-extract, update and compile the catalogues (see scripts/babel.sh)
translations: $(STAMP)
	scripts/babel.sh all

clean:
	rm -rf $(VENV) .venv39 .venv-octoprint-1.8 build dist *.egg-info .demo
