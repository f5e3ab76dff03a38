# tfnas: two entry points on a fresh machine: `make demo` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-long lint venv eda-tools test-core bench bench-quick clean

$(UV):
	$(PY) -m pip install --quiet --user uv || $(PY) -m pip install --quiet uv

# The venv follows uv.lock exactly (tensorflow 2.14.1 + TFF 0.87.0 need the jax override in pyproject.toml).
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra test --extra bench --extra eda --python 3.11
	touch $@

venv: $(VENV)/.synced

eda-tools:
	bash scripts/install_eda_tools.sh

demo: venv
	$(VENV)/bin/tfnas nasrec run --config configs/nasrec_demo.json

test: venv eda-tools
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout=900 --durations=15 -m "not long" tests

# The long crash/resume cases (minutes each on 2 cores): every NASRec stage killed and resumed.
test-long: venv eda-tools
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout=1800 -m long tests

# Lint with the ruff configuration in pyproject.toml (line length 120).
lint: venv
	$(VENV)/bin/ruff check .

test-core: venv
	$(VENV)/bin/python -m pytest -q tests/test_graph.py tests/test_search_core.py tests/test_metrics.py

bench-quick: venv
	for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache runs
