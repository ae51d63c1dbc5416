# Chronos: `make run` starts the whole stack, `make test` runs every check. Both set up first.
PYTHON ?= python3
VENV := .venv
MONGO_VENV := .venv-mongo
SECANTUS := secantusdb==0.7.0b3

.PHONY: run test lint typecheck format schema bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# Never --pre here: it would pull TensorFlow release candidates.
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# SecantusDB (our MongoDB for dev and tests) lives in its own venv: a GPL server we run, never import.
$(MONGO_VENV)/.installed:
	test -x $(MONGO_VENV)/bin/python || $(PYTHON) -m venv $(MONGO_VENV)
	$(MONGO_VENV)/bin/pip install --quiet --pre '$(SECANTUS)'
	touch $@

run: $(VENV)/.installed $(MONGO_VENV)/.installed
	$(VENV)/bin/python -m app.devstack

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint $(MONGO_VENV)/.installed
	$(VENV)/bin/python -m pytest

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schema: $(VENV)/.installed
	$(VENV)/bin/python -m schema.export > schema.graphql

bench: $(VENV)/.installed $(MONGO_VENV)/.installed
	$(VENV)/bin/python bench/graphql_models.py
	$(VENV)/bin/python bench/sth_collect.py
	$(VENV)/bin/python bench/ml_quality.py
	$(VENV)/bin/python bench/training_overhead.py --skip-quality
	$(VENV)/bin/python bench/predict_latency.py
	$(VENV)/bin/python bench/metrics_scrape.py
	$(VENV)/bin/python bench/rate_limit.py
	$(VENV)/bin/python bench/access.py

clean:
	rm -rf $(VENV) $(MONGO_VENV) .mypy_cache .pytest_cache .ruff_cache
