"""Long-lived clients of one API process, opened in the lifespan and closed after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from pymongo import AsyncMongoClient

from app.db import connect_mongo, init_documents
from app.settings import Settings
from app.system.amqp_probe import probe_amqp
from app.system.health import Probe, SystemHealth, check_health
from app.system.info import ApplicationInfo, build_info

ESSENTIAL = frozenset({"mongo"})


@dataclass
class Resources:
    settings: Settings
    mongo: AsyncMongoClient[dict[str, Any]]
    redis: aioredis.Redis
    info: ApplicationInfo
    probes: dict[str, Probe]
    extra_redis: list[aioredis.Redis]

    async def health(self) -> SystemHealth:
        return await check_health(
            probes=self.probes, essential=ESSENTIAL, timeout=self.settings.health_timeout_seconds
        )


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
    await init_documents(mongo, settings.mongo_database)
    redis = _redis_client(settings.redis_url, settings.health_timeout_seconds)
    extra_redis: list[aioredis.Redis] = []
    return Resources(
        settings=settings,
        mongo=mongo,
        redis=redis,
        info=build_info(settings),
        probes=_probes(settings, mongo, redis, extra_redis),
        extra_redis=extra_redis,
    )


async def close_resources(resources: Resources) -> None:
    for client in (resources.redis, *resources.extra_redis):
        await client.aclose()
    await resources.mongo.close()


__all__ = ["ESSENTIAL", "Resources", "close_resources", "open_resources"]
