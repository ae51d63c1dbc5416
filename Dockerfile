# syntax=docker/dockerfile:1
#
# One image for every Chronos process; the command picks the role (docker-compose.yml):
#   python -m schema.serve                                API (the default)
#   python -m tasks.run worker -Q ... -n name@%h ...      workers (celery -A tasks.worker, SIGTERM = bounded cold shutdown)
#   python -m tasks.run beat --schedule /var/lib/chronos/celerybeat-schedule
#
# Build metadata for the `info` query (`make image` passes both through docker compose build):
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) --build-arg BUILD_TIME=$(date -u +%FT%TZ) .

# Both stages must share the interpreter: the venv is copied across and points at its python.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- builder: the venv
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, from the runtime lock alone, so editing code does not re-download TensorFlow
# (tensorflow-cpu: no CUDA kernels, a much smaller wheel than tensorflow). The lock pins every package
# with its hashes, the same versions the tests ran on (requirements-dev.lock holds them plus the demo
# data and the dev tools, which stay out of the image); nothing is resolved here.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes --no-deps -r requirements.lock

# Then the project itself (setuptools finds app*, schema*, tasks*, ml*, fiware*; README.md is its readme).
COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
COPY tasks ./tasks
COPY ml ./ml
COPY fiware ./fiware
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --no-build-isolation . \
    && pip check \
    && cd / && python -c "import schema.serve, tasks.worker"  # the installed package, not /src

# ---------------------------------------------------------------- console: GraphiQL's files and the web console
# From the npm registry as console/package-lock.json pins them (integrity-checked); the API checks
# GraphiQL's served files against their SRI hashes again (app/graphiql.py). The web console is built
# here from its sources and the committed schema (its types are generated from it); the dev packages
# that build it are pruned, so the image keeps node_modules' browser files and dist/ only.
FROM node:20.19.5-bookworm-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY schema.graphql /schema.graphql
COPY console/index.html console/tsconfig.json console/vite.config.ts ./
COPY console/scripts ./scripts
COPY console/src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf src scripts
COPY console/graphiql ./graphiql

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG GIT_COMMIT=
ARG BUILD_TIME=

# A fixed uid, so volume ownership and Kubernetes' runAsNonRoot do not depend on the build.
RUN groupadd --system --gid 10001 chronos \
    && useradd --system --uid 10001 --gid chronos --home-dir /var/lib/chronos --no-create-home \
        --shell /usr/sbin/nologin chronos \
    && mkdir -p /var/lib/chronos /app \
    && chown chronos:chronos /var/lib/chronos

COPY --from=builder /opt/venv /opt/venv
COPY --from=console /console /app/console

# Defaults for a container; every one can be overridden at run time (CHRONOS_* only, app/settings.py).
# Beat writes its schedule under CHRONOS_DATA_DIR, the one writable directory.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHRONOS_ENVIRONMENT=production \
    CHRONOS_HOST=0.0.0.0 \
    CHRONOS_PORT=8000 \
    CHRONOS_DATA_DIR=/var/lib/chronos \
    CHRONOS_CONSOLE_DIR=/app/console \
    CHRONOS_GIT_COMMIT=${GIT_COMMIT} \
    CHRONOS_BUILD_TIME=${BUILD_TIME}

# No .env in the image (.dockerignore): settings come from the environment only.
WORKDIR /app
USER 10001:10001

EXPOSE 8000

# No HEALTHCHECK here: the image also runs workers and beat, which serve no HTTP. docker-compose.yml
# gives each role its own.
CMD ["python", "-m", "schema.serve"]
