from __future__ import annotations

import asyncio

import pytest

from app.devstack import free_port
from app.settings import Settings
from app.system.amqp_probe import AmqpProbeError, AmqpTarget, probe_amqp
from tests.app.system.silent import silent_port


async def test_real_broker_answers_with_its_product(test_settings: Settings) -> None:
    product = await asyncio.wait_for(probe_amqp(test_settings.celery_broker_url), 5)
    assert "RabbitMQ" in product


async def test_wrong_password_is_refused(test_settings: Settings) -> None:
    target = AmqpTarget.from_url(test_settings.celery_broker_url)
    url = f"amqp://{target.user}:wrong-password@{target.host}:{target.port}//"
    with pytest.raises(AmqpProbeError, match="403 ACCESS_REFUSED"):
        await asyncio.wait_for(probe_amqp(url), 5)


async def test_unknown_vhost_is_refused(test_settings: Settings) -> None:
    target = AmqpTarget.from_url(test_settings.celery_broker_url)
    url = f"amqp://{target.user}:{target.password}@{target.host}:{target.port}/no-such-vhost"
    with pytest.raises(AmqpProbeError, match=r"530 NOT_ALLOWED - vhost no-such-vhost"):
        await asyncio.wait_for(probe_amqp(url), 5)


async def test_closed_port_fails_at_once() -> None:
    with pytest.raises(OSError):
        await asyncio.wait_for(probe_amqp(f"amqp://guest:guest@127.0.0.1:{free_port()}//"), 5)


async def test_silent_server_never_completes_the_handshake() -> None:
    with silent_port() as port, pytest.raises(TimeoutError):
        await asyncio.wait_for(probe_amqp(f"amqp://guest:guest@127.0.0.1:{port}//"), 0.5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", AmqpTarget("127.0.0.1", 5672, "guest", "guest", "/")),
        ("amqp://u%40x:p%2Fw@rabbit/chronos", AmqpTarget("rabbit", 5672, "u@x", "p/w", "chronos")),
        ("amqp://rabbit:5673", AmqpTarget("rabbit", 5673, "guest", "guest", "/")),
    ],
)
def test_target_from_url(url: str, expected: AmqpTarget) -> None:
    assert AmqpTarget.from_url(url) == expected
