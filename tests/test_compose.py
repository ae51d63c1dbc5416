"""The deployment files: docker-compose.yml against the settings and queues, the Dockerfile, .dockerignore.

Plain parsing, no Docker engine and no fixtures. ``docker compose config`` runs too when the docker
client has its compose plugin, in a test of its own so that the parsing tests always run.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the venv

from app.queues import Queue
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

CHRONOS = ("api", "worker-training", "worker-io", "beat")
FIWARE = ("mongo-fiware", "orion", "sth-comet", "iot-agent")
# The quantumleap profile: Orion 4 and QuantumLeap on TimescaleDB.
QUANTUMLEAP = ("orion-4", "quantumleap", "quantumleap-db")
SERVICES = {"mongo", "redis", "rabbitmq", *FIWARE, *QUANTUMLEAP, *CHRONOS, "flower"}
# Services that run once and exit: they need no healthcheck (none today).
ONE_SHOT: frozenset[str] = frozenset()
PREFIX = str(Settings.model_config.get("env_prefix", ""))
TRAINING_QUEUES = {Queue.MODEL_TRAINING.value}
IO_QUEUES = {queue.value for queue in Queue} - TRAINING_QUEUES
# task_time_limit in tasks/app.py: the soft limit plus this grace before the hard kill.
HARD_LIMIT_GRACE_SECONDS = 300
WRITABLE_DIR = "/var/lib/chronos"

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?[-?](?P<default>[^}]*))?\}")


@functools.cache
def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _interpolate(value: str) -> str:
    """What compose makes of ``value`` in an empty environment: ``${X:-default}`` gives the default."""
    value = _INTERPOLATION.sub(lambda match: match.group("default") or "", value.replace("$$", "\0"))
    return value.replace("\0", "$")


def _environment(name: str) -> dict[str, str]:
    raw = _services()[name].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def _command(name: str) -> list[str]:
    command = _services()[name].get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _option(args: list[str], *names: str) -> str | None:
    """The value of a command-line option given as ``--name value`` or ``--name=value``."""
    for index, arg in enumerate(args):
        for option in names:
            if arg == option and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{option}="):
                return arg.split("=", 1)[1]
    return None


def _image(name: str) -> tuple[str, str]:
    repository, _, tag = str(_services()[name]["image"]).rpartition(":")
    return repository, tag


def _has_healthcheck(name: str) -> bool:
    check = _services()[name].get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def _field(variable: str) -> str:
    return variable.removeprefix(PREFIX).lower()


def _chronos_settings(name: str) -> Settings:
    """The settings a Chronos service starts with, from its environment alone (not this process's)."""
    values = {_field(key): _interpolate(value) for key, value in _environment(name).items()}
    # Empty values count as unset, as env_ignore_empty makes them at run time.
    return Settings.model_validate({key: value for key, value in values.items() if value})


def _training_limit_seconds() -> int:
    default = Settings.model_fields["training_time_limit_seconds"].default
    assert isinstance(default, int)
    configured = [_chronos_settings(name).training_time_limit_seconds for name in CHRONOS]
    return max([default, *configured])


# ---------------------------------------------------------------- docker-compose.yml


def test_the_services_are_the_expected_set() -> None:
    assert set(_services()) == SERVICES


def test_images_are_the_required_ones_and_pinned() -> None:
    assert _services()["mongo"]["image"] == "mongo:7"
    assert _services()["redis"]["image"] == "redis:7"
    assert _services()["rabbitmq"]["image"] == "rabbitmq:3-management"
    assert _services()["flower"]["image"] == "mher/flower:2.0"

    repository, tag = _image("orion")
    assert repository.endswith("fiware/orion")
    # Orion 4 removed the legacy notifications STH-Comet's /notify needs.
    assert tag.split(".")[0] == "3", f"Orion must be 3.x, got {tag}"
    assert _image("sth-comet") == ("fiware/sth-comet", "2.11.0")
    repository, tag = _image("iot-agent")
    assert repository.endswith("fiware/iotagent-ul")
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"pin a release of the IoT Agent, got {tag!r}"

    repository, tag = _image("orion-4")
    assert repository.endswith("fiware/orion") and tag.split(".")[0] == "4", tag
    # QuantumLeap 1.0.0 is the release; master (1.0.1-dev, Docker tag edge) answers differently.
    assert _image("quantumleap") == ("orchestracities/quantumleap", "1.0.0")

    repository, tag = _image("mongo-fiware")
    assert repository == "mongo"
    assert tuple(int(part) for part in tag.split(".")) < (5, 0), "STH-Comet's mongodb ~3.6 driver ends at 4.4"

    for name, service in _services().items():
        image = str(service.get("image", ""))
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"


def test_flower_and_the_quantumleap_mode_start_only_with_their_profiles() -> None:
    assert _services()["flower"].get("profiles") == ["monitoring"]
    for name in QUANTUMLEAP:
        assert _services()[name].get("profiles") == ["quantumleap"], name
    others = [
        name
        for name, service in _services().items()
        if name not in {"flower", *QUANTUMLEAP} and service.get("profiles")
    ]
    assert others == [], "everything else must start with a plain `docker compose up`"
    # No service of the default set waits for one that a plain `up` does not start.
    for name, service in _services().items():
        if not service.get("profiles"):
            assert not set(service.get("depends_on") or {}) & set(QUANTUMLEAP), name


def test_the_quantumleap_mode_is_chosen_for_chronos_and_the_iot_agent_by_two_variables() -> None:
    environment = {
        **{key: _environment("api")[key] for key in ("CHRONOS_ORION_URL", "CHRONOS_HISTORY_STORE")},
        "IOTA_CB_HOST": _environment("iot-agent")["IOTA_CB_HOST"],
    }
    assert environment == {
        "CHRONOS_ORION_URL": "http://${ORION_HOST:-orion}:1026",
        "CHRONOS_HISTORY_STORE": "${CHRONOS_HISTORY_STORE:-sth-comet}",
        "IOTA_CB_HOST": "${ORION_HOST:-orion}",
    }
    settings = _chronos_settings("api")
    assert settings.quantumleap_url == "http://quantumleap:8668"
    assert settings.ql_notify_url == "http://quantumleap:8668/v2/notify"
    quantumleap = _environment("quantumleap")
    assert quantumleap["QL_DEFAULT_DB"] == "timescale" and quantumleap["POSTGRES_HOST"] == "quantumleap-db"
    assert int(quantumleap["DEFAULT_LIMIT"]) >= settings.quantumleap_page_size
    assert "-db" in _command("orion-4") and "mongodb://mongo-fiware" in _command("orion-4")


def test_every_long_running_service_has_a_healthcheck() -> None:
    missing = [
        name
        for name, service in _services().items()
        if name not in ONE_SHOT and service.get("restart") != "no" and not _has_healthcheck(name)
    ]
    assert missing == []


def test_dependencies_wait_until_healthy() -> None:
    for name, service in _services().items():
        depends = service.get("depends_on") or {}
        # The list form means service_started: the dependency may not accept connections yet.
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition"
        for dependency, spec in depends.items():
            assert dependency in _services(), f"{name} depends on unknown {dependency}"
            condition = (spec or {}).get("condition")
            if dependency in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} -> {dependency}"
            elif _has_healthcheck(dependency):
                assert condition == "service_healthy", f"{name} -> {dependency}: {condition}"
            else:
                assert condition == "service_started", f"{name} -> {dependency}: {condition}"


def test_startup_order_follows_what_each_service_talks_to() -> None:
    def needs(name: str) -> set[str]:
        return set(_services()[name].get("depends_on") or {})

    assert needs("orion") >= {"mongo-fiware"}
    assert needs("sth-comet") >= {"mongo-fiware"}
    assert needs("iot-agent") >= {"mongo-fiware", "orion"}
    assert needs("orion-4") >= {"mongo-fiware"}
    assert needs("quantumleap") >= {"quantumleap-db"}
    for name in ("api", "worker-training", "worker-io"):
        assert needs(name) >= {"mongo", "redis", "rabbitmq", "orion", "sth-comet", "iot-agent"}, name
    assert needs("beat") >= {"rabbitmq"}
    assert needs("flower") >= {"rabbitmq"}


def test_fiware_has_a_mongodb_of_its_own() -> None:
    orion = " ".join(_command("orion"))
    assert "mongodb://mongo-fiware" in orion or "-dbhost mongo-fiware" in orion
    assert _environment("sth-comet")["DB_URI"].split(":")[0] == "mongo-fiware"
    assert _environment("iot-agent")["IOTA_MONGO_HOST"] == "mongo-fiware"
    assert _environment("iot-agent")["IOTA_REGISTRY_TYPE"] == "mongodb"
    assert "mongo-fiware" not in _environment("api")["CHRONOS_MONGO_URL"]


def test_databases_and_broker_keep_their_data_in_named_volumes() -> None:
    declared = set(_compose().get("volumes") or {})
    expected = {
        "mongo": "/data/db",
        "mongo-fiware": "/data/db",
        "rabbitmq": "/var/lib/rabbitmq",
        "redis": "/data",
        "quantumleap-db": "/var/lib/postgresql/data",
    }
    used: list[str] = []
    for name, target in expected.items():
        mounts = [str(volume).split(":") for volume in _services()[name].get("volumes") or []]
        named = [source for source, destination, *_ in mounts if destination == target]
        assert named and named[0] in declared, f"{name}: {target} is not on a declared named volume"
        used.append(named[0])
    assert len(set(used)) == len(used), "each data service needs a volume of its own"


def test_bind_mounted_files_exist_and_are_read_only() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes") or []:
            source, _, rest = str(volume).partition(":")
            if source.startswith((".", "/")):
                assert (ROOT / source).is_file(), f"{name}: {source} does not exist"
                assert rest.endswith(":ro"), f"{name}: mount {source} read-only"


def test_chronos_services_run_one_image() -> None:
    builds = [_services()[name].get("build") for name in CHRONOS]
    images = [_services()[name].get("image") for name in CHRONOS]
    assert builds[0] is not None and all(build == builds[0] for build in builds)
    assert images[0] and all(image == images[0] for image in images)
    build = builds[0] if isinstance(builds[0], dict) else {"context": builds[0]}
    assert (ROOT / str(build["context"]) / str(build.get("dockerfile", "Dockerfile"))).resolve() == DOCKERFILE
    assert _command("api")[:3] == ["python", "-m", "schema.serve"]


def _celery(args: list[str]) -> list[str]:
    """A Celery command line's arguments after the app, whether run as celery or as tasks.run."""
    if args[:3] == ["python", "-m", "tasks.run"]:
        return args[3:]
    return []


def _workers() -> dict[str, set[str]]:
    """Queues consumed by each service that runs a Celery worker."""
    workers: dict[str, set[str]] = {}
    for name in _services():
        args = _command(name)
        if _celery(args)[:1] == ["worker"]:
            queues = _option(args, "-Q", "--queues")
            assert queues, f"{name}: a worker without -Q consumes only the default queue"
            workers[name] = set(queues.split(","))
    return workers


def test_workers_and_beat_stop_through_tasks_run_within_their_grace() -> None:
    """tasks.run turns SIGTERM into a bounded shutdown that requeues; Docker must not kill it first."""
    grace = float(_environment("worker-training")["CHRONOS_SHUTDOWN_GRACE_SECONDS"])
    for name in ("worker-training", "worker-io", "beat"):
        assert _command(name)[:3] == ["python", "-m", "tasks.run"], name
    for name in ("api", "worker-training", "worker-io"):
        stop = str(_services()[name].get("stop_grace_period", "10s"))
        assert stop.endswith("s") and float(stop[:-1]) > grace, name


def test_training_worker_runs_one_training_at_a_time() -> None:
    args = _command("worker-training")
    assert _workers()["worker-training"] == TRAINING_QUEUES
    assert _option(args, "--concurrency", "-c") == "1"
    assert _option(args, "--pool", "-P") == "prefork"
    assert (_option(args, "-n", "--hostname") or "").endswith("@%h"), "node names must differ per host"


def test_io_worker_consumes_every_other_queue() -> None:
    args = _command("worker-io")
    assert _workers()["worker-io"] == IO_QUEUES
    assert int(_option(args, "--concurrency", "-c") or "0") > 1
    assert (_option(args, "-n", "--hostname") or "").endswith("@%h")


def test_each_queue_has_exactly_one_kind_of_worker() -> None:
    workers = _workers()
    assert set(workers) == {"worker-training", "worker-io"}
    consumed = [queue for queues in workers.values() for queue in queues]
    assert sorted(consumed) == sorted(queue.value for queue in Queue)


def test_there_is_exactly_one_beat() -> None:
    beats = [name for name in _services() if _celery(_command(name))[:1] == ["beat"]]
    assert beats == ["beat"]
    embedded = [name for name, queues in _workers().items() if {"-B", "--beat"} & set(_command(name))]
    assert embedded == [], "a worker with -B is a second beat"
    beat = _services()["beat"]
    assert int((beat.get("deploy") or {}).get("replicas", 1)) == 1
    assert int(beat.get("scale", 1)) == 1
    schedule = _option(_command("beat"), "--schedule", "-s")
    assert schedule and schedule.startswith(f"{WRITABLE_DIR}/"), "beat needs a writable schedule file"


def test_chronos_variables_are_settings() -> None:
    used = set(re.findall(rf"\b{PREFIX}[A-Z0-9_]+\b", COMPOSE.read_text()))
    assert used, "the compose file configures Chronos through CHRONOS_* variables"
    unknown = sorted(name for name in used if _field(name) not in Settings.model_fields)
    assert unknown == []


def test_chronos_services_are_configured_only_through_chronos_variables() -> None:
    for name in CHRONOS:
        others = [key for key in _environment(name) if not key.startswith(PREFIX)]
        assert others == [], f"{name}: {others}"
        assert not _services()[name].get("env_file"), f"{name}: an env_file could carry anything"


def test_chronos_settings_validate_and_point_into_the_stack() -> None:
    first = _environment(CHRONOS[0])
    for name in CHRONOS:
        assert _environment(name) == first, f"{name} must see the same settings as {CHRONOS[0]}"
    settings = _chronos_settings("api")
    assert settings.is_production
    assert not settings.graphiql_enabled
    assert settings.host == "0.0.0.0"
    assert "mongodb://mongo:27017" in settings.mongo_url
    assert settings.redis_url.startswith("redis://redis:6379/")
    assert settings.celery_broker_url.startswith("amqp://")
    assert "@rabbitmq:5672/" in settings.celery_broker_url
    assert settings.orion_url == "http://orion:1026"
    assert settings.sth_comet_url == "http://sth-comet:8666"
    assert settings.iot_agent_url == "http://iot-agent:4041"
    assert settings.notify_url == "http://sth-comet:8666/notify"
    ports = [str(port) for port in _services()["api"].get("ports") or []]
    assert any(port.endswith(f":{settings.port}") for port in ports)


def test_sth_page_size_agrees_with_chronos() -> None:
    sth = int(_environment("sth-comet").get("MAX_PAGE_SIZE", "100"))  # STH's own default
    assert _chronos_settings("api").sth_max_page_size == sth


def test_rabbitmq_consumer_timeout_outlasts_a_training() -> None:
    configs = [
        ROOT / source
        for source, _, target in (str(volume).partition(":") for volume in _services()["rabbitmq"]["volumes"])
        if target.startswith("/etc/rabbitmq/") and target.split(":")[0].endswith(".conf")
    ]
    assert configs, "mount a rabbitmq.conf that sets consumer_timeout"
    timeouts = [
        int(match.group(1))
        for path in configs
        for match in re.finditer(r"^\s*consumer_timeout\s*=\s*(\d+)\s*$", path.read_text(), re.MULTILINE)
    ]
    assert len(timeouts) == 1, f"exactly one consumer_timeout, found {timeouts}"
    limit_ms = (_training_limit_seconds() + HARD_LIMIT_GRACE_SECONDS) * 1000
    assert timeouts[0] > limit_ms, f"consumer_timeout {timeouts[0]} ms would redeliver a training"


def test_broker_credentials_come_from_the_environment_and_are_required() -> None:
    """No literal password in the file, and no default one either: compose stops until they are set."""
    required = r"\$\{\w+:\?[^}]+\}"
    for name in _services():
        for key, value in _environment(name).items():
            if re.search(r"://[^/]*@", value):
                assert re.match(rf"\w+://{required}:{required}@", value), f"{name}.{key}: {value}"
            if key.endswith(("_USER", "_PASS", "_PASSWORD")):
                assert re.fullmatch(required, value), f"{name}.{key}: {value}"


def test_every_variable_compose_requires_is_in_the_env_example() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    example = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert required and required <= example


def test_the_build_passes_the_commit_and_build_time_to_the_image() -> None:
    build = _services()["api"]["build"]
    assert set(build["args"]) == {"GIT_COMMIT", "BUILD_TIME"}
    runtime = _stages()[-1]
    assert {arguments.split("=")[0] for instruction, arguments in runtime if instruction == "ARG"} >= {
        "GIT_COMMIT",
        "BUILD_TIME",
    }
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"GIT_COMMIT=\$\$\(git rev-parse HEAD\) BUILD_TIME=.+ docker compose build", makefile)


def test_docker_compose_config() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker client not installed: `docker compose config` not run")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        reason = (version.stderr or version.stdout).strip().splitlines()
        pytest.skip(f"`docker compose version` failed ({reason[0] if reason else version.returncode})")
    for extra in ([], ["--profile", "monitoring"]):
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), *extra, "config", "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Dockerfile and .dockerignore


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in _dockerfile():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, arguments))
    return stages


def _global_args() -> dict[str, str]:
    args: dict[str, str] = {}
    for instruction, arguments in _dockerfile():
        if instruction == "FROM":
            break
        if instruction == "ARG":
            name, _, default = arguments.partition("=")
            args[name] = default
    return args


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = _stages()
    assert len(stages) >= 2
    args = _global_args()
    images = [
        re.sub(r"\$\{?(\w+)\}?", lambda match: args.get(match.group(1), ""), stage[0][1].split()[0])
        for stage in stages
    ]
    assert images[-1].startswith("python:3.11-slim"), images
    assert images[0] == images[-1], "the venv copied across needs the same interpreter"
    runtime = stages[-1]
    assert any(instruction == "COPY" and "--from=" in arguments for instruction, arguments in runtime)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arguments for instruction, arguments in _stages()[-1] if instruction == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    if user.isdigit():
        assert int(user) >= 1000


def test_dockerfile_installs_the_project_with_cpu_tensorflow() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dependencies = [re.split(r"[<>=!~\[; ]", dep)[0] for dep in pyproject["project"]["dependencies"]]
    assert "tensorflow-cpu" in dependencies and "tensorflow" not in dependencies
    builder = " ".join(arguments for instruction, arguments in _stages()[0] if instruction in {"COPY", "RUN"})
    assert "pyproject.toml" in builder
    # The tested versions, hash-checked, without the demo data and dev tools of requirements-dev.lock.
    assert "pip install --require-hashes --no-deps -r requirements.lock" in builder
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", builder), "the builder must pip install the project"
    assert "tensorflow" not in builder.replace("tensorflow-cpu", ""), "TensorFlow comes from the lock"
    assert "[demo]" not in builder and "[dev]" not in builder


def test_the_image_carries_graphiqls_files_from_the_npm_lock() -> None:
    stages = _stages()
    console = [stage for stage in stages if "npm ci" in " ".join(arguments for _, arguments in stage)]
    assert len(console) == 1 and "--omit=dev" in " ".join(arguments for _, arguments in console[0])
    runtime = stages[-1]
    assert ("COPY", "--from=console /console /app/console") in runtime
    environment = " ".join(arguments for instruction, arguments in runtime if instruction == "ENV")
    assert f"{PREFIX}CONSOLE_DIR=/app/console" in environment


def test_dockerfile_serves_the_api_by_default() -> None:
    runtime = _stages()[-1]
    assert ("EXPOSE", "8000") in runtime
    assert ("CMD", '["python", "-m", "schema.serve"]') in runtime
    assert ("WORKDIR", "/app") in runtime
    assert any(instruction == "RUN" and WRITABLE_DIR in arguments for instruction, arguments in runtime)
    environment = " ".join(arguments for instruction, arguments in runtime if instruction == "ENV")
    variables = re.findall(rf"\b({PREFIX}[A-Z0-9_]+)=", environment)
    assert f"{PREFIX}DATA_DIR" in variables
    assert [name for name in variables if _field(name) not in Settings.model_fields] == []


def test_dockerignore_keeps_environments_and_history_out_of_the_context() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".venv-mongo", ".data", ".git", ".env"} <= patterns
    needed = {"pyproject.toml", "README.md", "app", "schema", "tasks", "ml", "fiware", "*", "**"}
    assert not patterns & needed, "the build needs these in its context"
