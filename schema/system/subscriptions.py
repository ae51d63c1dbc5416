"""Health as a stream, for status dashboards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from app.errors import ErrorCode, FieldError, ValidationFailed
from schema.context import Info
from schema.system.types import SystemHealth

MIN_INTERVAL, MAX_INTERVAL = 1, 300


@strawberry.type
class SystemSubscriptions:
    @strawberry.subscription(
        description="Health now, then again every `intervalSeconds`, until the client unsubscribes."
    )
    async def health_updates(
        self,
        info: Info,
        interval_seconds: Annotated[
            int, strawberry.argument(description=f"Seconds between checks, {MIN_INTERVAL}-{MAX_INTERVAL}.")
        ] = 5,
    ) -> AsyncGenerator[SystemHealth, None]:
        if not MIN_INTERVAL <= interval_seconds <= MAX_INTERVAL:
            raise ValidationFailed(
                [
                    FieldError(
                        ErrorCode.VALIDATION_ERROR,
                        f"must be between {MIN_INTERVAL} and {MAX_INTERVAL}",
                        ("intervalSeconds",),
                    )
                ]
            )
        while True:
            yield SystemHealth.from_result(
                await info.context.resources.health(), detailed=info.context.is_admin
            )
            await asyncio.sleep(interval_seconds)


__all__ = ["SystemSubscriptions"]
