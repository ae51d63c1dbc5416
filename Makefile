# Chronos: `make run` starts the whole stack, `make test` runs every check. Both set up first.
PYTHON ?= python3
VENV := .venv
MONGO_VENV := .venv-mongo
SECANTUS := secantusdb==0.7.0b3
# Exactly what was tested: every package pinned with its hashes (`make lock` refreshes it).
LOCK := requirements-dev.lock
RUNTIME_LOCK := requirements.lock
MONGO_LOCK := requirements-mongo.lock
# Locks are resolved for the interpreter and platform of CI and of the image (python:3.11-slim).
UV ?= $(VENV)/bin/uv
UV_COMPILE := $(UV) pip compile --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" --quiet

.PHONY: run test test-fast lint typecheck format schema bench lock lock-upgrade image browser clean

$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# No resolution at install time: the lock's versions, each checked against its hashes, then
	# Chronos itself with the locked setuptools (no isolated build fetching a newer one).
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# GraphiQL's browser files and the browser-side test tools, exactly as console/package-lock.json pins
# them (npm checks each tarball's integrity hash). npm ci writes node_modules/.package-lock.json.
CONSOLE := console/node_modules/.package-lock.json
$(CONSOLE): console/package.json console/package-lock.json
	npm ci --prefix console --no-audit --no-fund --loglevel=error

# The console: TypeScript built into console/dist (never committed), its types generated from the
# committed schema.graphql, so a schema change that breaks it breaks this build.
CONSOLE_BUILD := console/dist/index.html
CONSOLE_SOURCES := schema.graphql $(shell find console/src console/scripts -type f -not -path '*/generated/*' 2>/dev/null) \
	$(wildcard console/index.html console/vite.config.ts console/tsconfig.json)
$(CONSOLE_BUILD): $(CONSOLE) $(CONSOLE_SOURCES)
	npm run build --prefix console --silent

# SecantusDB (our MongoDB for dev and tests) lives in its own venv: a GPL server we run, never import.
$(MONGO_VENV)/.installed: $(MONGO_LOCK)
	test -x $(MONGO_VENV)/bin/python || $(PYTHON) -m venv $(MONGO_VENV)
	$(MONGO_VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(MONGO_LOCK)
	touch $@

run: $(VENV)/.installed $(MONGO_VENV)/.installed $(CONSOLE) $(CONSOLE_BUILD)
	$(VENV)/bin/python -m app.devstack

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: browser lint $(MONGO_VENV)/.installed $(CONSOLE) $(CONSOLE_BUILD)
	npm test --prefix console --silent
	$(VENV)/bin/python -m pytest

# The browser tests drive Debian's Chromium (no browser download works on our machines).
browser:
	@test -x /usr/bin/chromium || { echo "Chromium is missing: apt-get install chromium (Debian), see docs/operations.md" >&2; exit 1; }

# Unit tests only: no server, no process of their own (tests/conftest.py marks the rest `services`).
# TensorFlow's tests (tests/ml) run beside the rest, in a process of their own: one core each.
test-fast: $(VENV)/.installed
	@$(VENV)/bin/python -m pytest -m "not services" -q -p no:cacheprovider tests/ml & ml=$$!; \
	$(VENV)/bin/python -m pytest -m "not services" -q -p no:cacheprovider --ignore=tests/ml; rest=$$?; \
	wait $$ml; ml=$$?; exit $$((rest || ml))

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schema: $(VENV)/.installed
	$(VENV)/bin/python -m schema.export > schema.graphql

# Adds what pyproject.toml newly asks for, keeping every other pin; lock-upgrade moves all to the newest.
# SecantusDB is a pre-release: allowed for it by name, never for its dependencies.
lock: $(VENV)/.installed
	$(UV_COMPILE) pyproject.toml --extra dev --extra demo -o $(LOCK)
	$(UV_COMPILE) pyproject.toml -c $(LOCK) -o $(RUNTIME_LOCK)
	echo '$(SECANTUS)' | $(UV_COMPILE) - --prerelease explicit -o $(MONGO_LOCK)

lock-upgrade: $(VENV)/.installed
	$(UV_COMPILE) pyproject.toml --extra dev --extra demo --upgrade -o $(LOCK)
	$(UV_COMPILE) pyproject.toml -c $(LOCK) -o $(RUNTIME_LOCK)
	echo '$(SECANTUS)' | $(UV_COMPILE) - --prerelease explicit --upgrade -o $(MONGO_LOCK)

# The production image, with the commit and build time the `info` query shows.
image:
	GIT_COMMIT=$$(git rev-parse HEAD) BUILD_TIME=$$(date -u +%FT%TZ) docker compose build

bench: $(VENV)/.installed $(MONGO_VENV)/.installed
	$(VENV)/bin/python bench/graphql_models.py
	$(VENV)/bin/python bench/sth_collect.py
	$(VENV)/bin/python bench/ml_quality.py
	$(VENV)/bin/python bench/training_overhead.py --skip-quality
	$(VENV)/bin/python bench/predict_latency.py
	$(VENV)/bin/python bench/metrics_scrape.py
	$(VENV)/bin/python bench/rate_limit.py
	$(VENV)/bin/python bench/access.py
	$(VENV)/bin/python bench/bad_bodies.py

clean:
	rm -rf $(VENV) $(MONGO_VENV) console/node_modules .mypy_cache .pytest_cache .ruff_cache
