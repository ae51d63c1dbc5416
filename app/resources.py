"""Long-lived clients of one API process, opened in the lifespan and closed after it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from app.auth.authenticator import Authenticator
from app.db import connect_mongo, init_documents
from app.dispatch import TaskQueue
from app.metrics.exposition import ProcessMetrics
from app.models.service import reads_store
from app.predictions.forecasters import Forecasters
from app.settings import Settings
from app.system.amqp_probe import probe_amqp
from app.system.health import Finding, HealthStatus, Probe, SystemHealth, check_health
from app.system.info import ApplicationInfo, build_info, redact_url
from app.system.workers import WorkerWatch
from app.training import events
from app.training.hub import ProgressHub
from fiware.clients import FiwareClients, HistoryStore
from fiware.http import NO_RETRY, ServiceClient

log = structlog.get_logger("chronos.api")


def open_fiware(settings: Settings) -> FiwareClients:
    return FiwareClients.open(
        orion_url=settings.orion_url,
        sth_url=settings.sth_comet_url,
        iota_url=settings.iot_agent_url,
        timeout=settings.fiware_timeout_seconds,
        sth_page_size=settings.sth_max_page_size,
        sth_concurrency=settings.sth_concurrency,
        store=settings.history_store,
        # Opened in every deployment: a model may name QuantumLeap where STH-Comet is the default.
        quantumleap_url=settings.quantumleap_url,
        quantumleap_page_size=settings.quantumleap_page_size,
    )


def fiware_probes(fiware: FiwareClients) -> dict[str, Probe]:
    # Health asks once: a retry would only stretch the answer past the probe's deadline.
    checks = {
        "orion": (fiware.orion.client.http, "Orion", "/version"),
        "sthComet": (fiware.sth.client.http, "STH-Comet", "/version"),
        "iotAgent": (fiware.iota.client.http, "IoT Agent", "/iot/about"),
    }
    if fiware.quantumleap is not None:
        checks["quantumLeap"] = (fiware.quantumleap.http, "QuantumLeap", "/version")
    probes = {
        name: _http_probe(ServiceClient(http, service=label, retry=NO_RETRY), path)
        for name, (http, label, path) in checks.items()
    }
    other = {HistoryStore.STH_COMET: "sthComet", HistoryStore.QUANTUMLEAP: "quantumLeap"}
    for store, name in other.items():
        if name in probes and store is not fiware.store:
            probes[name] = _when_read(probes[name], store)
    return probes


def _when_read(probe: Probe, store: HistoryStore) -> Probe:
    """A store that is not the deployment's is asked only while some model reads it: a QuantumLeap
    nobody set up is not a degraded system."""

    async def when_read() -> str | Finding | None:
        if not await reads_store(store):
            return Finding(HealthStatus.UP, "no model reads it; not asked")
        return await probe()

    return when_read


def _http_probe(client: ServiceClient, path: str) -> Probe:
    async def probe() -> str | None:
        body = (await client.request("GET", path)).json()
        version = _version_of(body)
        return f"{client.service} {version}" if version else client.service

    return probe


def _version_of(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("orion"), dict):
        return str(body["orion"].get("version"))
    for key in ("version", "libVersion"):
        if body.get(key):
            return str(body[key])
    return None


@dataclass
class Resources:
    settings: Settings
    mongo: AsyncMongoClient[dict[str, Any]]
    redis: aioredis.Redis
    info: ApplicationInfo
    probes: dict[str, Probe]
    extra_redis: list[aioredis.Redis]
    fiware: FiwareClients
    tasks: TaskQueue
    workers: WorkerWatch
    hub: ProgressHub
    forecasters: Forecasters
    metrics: ProcessMetrics
    authenticator: Authenticator

    async def health(self) -> SystemHealth:
        # app.system.health.DEPENDENCIES says which of them this process needs to be ready.
        return await check_health(probes=self.probes, timeout=self.settings.health_timeout_seconds)


def _redis_client(url: str, timeout: float) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def _probes(
    settings: Settings,
    mongo: AsyncMongoClient[dict[str, Any]],
    redis: aioredis.Redis,
    extra_redis: list[aioredis.Redis],
) -> dict[str, Probe]:
    async def mongo_probe() -> str | None:
        await mongo.admin.command("ping")
        return None

    async def redis_probe() -> str | None:
        await redis.ping()
        return None

    probes: dict[str, Probe] = {"mongo": mongo_probe, "redis": redis_probe}
    broker = settings.celery_broker_url
    if broker.startswith(("amqp://", "amqps://", "pyamqp://")):

        async def rabbitmq_probe() -> str | None:
            return await probe_amqp(broker)

        probes["rabbitmq"] = rabbitmq_probe
    else:
        # Redis as broker: the fallback where no RabbitMQ can be had.
        broker_redis = _redis_client(broker, settings.health_timeout_seconds)
        extra_redis.append(broker_redis)

        async def broker_probe() -> str | None:
            await broker_redis.ping()
            return None

        probes["broker"] = broker_probe
    return probes


async def open_resources(settings: Settings) -> Resources:
    mongo = connect_mongo(settings.mongo_url, timeout_seconds=settings.mongo_timeout_seconds)
    try:
        await init_documents(mongo, settings.mongo_database)
    except PyMongoError as error:
        # Say plainly what is missing before uvicorn reports a failed start-up.
        log.error(
            "api.mongo_unreachable",
            url=redact_url(settings.mongo_url),
            timeout_seconds=settings.mongo_timeout_seconds,
            error=type(error).__name__,
        )
        await mongo.close()
        raise
    redis = _redis_client(settings.redis_url, settings.health_timeout_seconds)
    extra_redis: list[aioredis.Redis] = []
    fiware = open_fiware(settings)
    # Status changes made by the API (admission, cancel) are announced like the workers' are.
    events.use_sink(redis)
    hub = ProgressHub(settings.redis_url)
    await hub.start()
    tasks = TaskQueue.open(settings)
    workers = WorkerWatch(
        broker_url=settings.celery_broker_url, celery=tasks.celery, timeout=settings.health_timeout_seconds
    )
    workers.start()
    return Resources(
        settings=settings,
        mongo=mongo,
        redis=redis,
        info=build_info(settings),
        probes={
            **_probes(settings, mongo, redis, extra_redis),
            **fiware_probes(fiware),
            "workers": workers.probe,
        },
        extra_redis=extra_redis,
        fiware=fiware,
        tasks=tasks,
        workers=workers,
        hub=hub,
        forecasters=Forecasters(),
        metrics=ProcessMetrics(),
        authenticator=Authenticator(
            required=settings.auth_required, cache_seconds=settings.auth_cache_seconds
        ),
    )


async def close_resources(resources: Resources) -> None:
    await resources.hub.stop()
    events.use_sink(None)
    for client in (resources.redis, *resources.extra_redis):
        await client.aclose()
    await resources.fiware.close()
    # Joins the listener thread: at most a connection attempt, never on the event loop.
    await asyncio.to_thread(resources.workers.stop)
    resources.tasks.close()
    await resources.mongo.close()


__all__ = ["Resources", "close_resources", "open_fiware", "open_resources"]
