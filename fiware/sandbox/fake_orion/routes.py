"""Routes of the Orion sandbox outside the entity API: subscriptions (as Orion's functional tests
``1654_del_subs_v2`` and ``1126_GET_v2_subscriptions`` show them) and ``/version``."""

from __future__ import annotations

import platform
import time

import httpx
import starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_orion.http import Call, prepare
from fiware.sandbox.fake_orion.model import NOT_FOUND_SUBSCRIPTION, Json, OrionError, bad_request, now_ms
from fiware.sandbox.fake_orion.subscriptions import (
    Subscription,
    new_subscription_id,
    parse_subscription,
    render_subscription,
)


def _subscription(call: Call, subscription_id: str) -> Subscription:
    found = call.store.tenant(call.service).subscriptions.get(subscription_id)
    if found is None:
        raise OrionError(404, NOT_FOUND_SUBSCRIPTION)
    return found


def _major(request: Request) -> int:
    config: SandboxConfig = request.app.state.config
    return config.orion_major


async def create_subscription(request: Request) -> Response:
    call = await prepare(request, update=False)
    spec = parse_subscription(call.body, orion_major=_major(request))
    subscription_id = new_subscription_id()
    subscription = Subscription(subscription_id, ",".join(call.paths), spec, dict(call.body), spec.status)
    call.store.tenant(call.service).subscriptions[subscription_id] = subscription
    return Response(status_code=201, headers={"Location": f"/v2/subscriptions/{subscription_id}"})


async def list_subscriptions(request: Request) -> Response:
    call = await prepare(request, update=False)
    subscriptions = list(call.store.tenant(call.service).subscriptions.values())
    scope = ",".join(call.paths)
    # An explicit service path (other than /#) narrows the list to exactly that path.
    if request.headers.get("fiware-servicepath") and scope != "/#":
        subscriptions = [sub for sub in subscriptions if sub.service_path == scope]
    limit, offset = call.page()
    now = now_ms()
    body = [render_subscription(sub, now) for sub in subscriptions[offset : offset + limit]]
    headers = {"Fiware-Total-Count": str(len(subscriptions))} if "count" in call.options else None
    return JSONResponse(body, headers=headers)


async def get_subscription(request: Request) -> Response:
    call = await prepare(request, update=False)
    subscription = _subscription(call, request.path_params["subscription_id"])
    return JSONResponse(render_subscription(subscription, now_ms()))


async def patch_subscription(request: Request) -> Response:
    call = await prepare(request, update=False)
    subscription = _subscription(call, request.path_params["subscription_id"])
    if not isinstance(call.body, dict) or not call.body:
        raise bad_request("empty payload")
    merged = {**subscription.body, **call.body}
    subscription.spec = parse_subscription(merged, orion_major=_major(request))
    subscription.body = merged
    if "status" in call.body:
        subscription.status = subscription.spec.status
    return Response(status_code=204)


async def delete_subscription(request: Request) -> Response:
    call = await prepare(request, update=False)
    _subscription(call, request.path_params["subscription_id"])
    del call.store.tenant(call.service).subscriptions[request.path_params["subscription_id"]]
    return Response(status_code=204)


def _uptime(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} d, {hours} h, {minutes} m, {secs} s"


async def version(request: Request) -> Response:
    config: SandboxConfig = request.app.state.config
    info: dict[str, Json] = {
        "version": config.orion_version,
        "uptime": _uptime(time.monotonic() - request.app.state.started),
        "git_hash": "nogitversion",
        "compile_time": "nodate",
        "compiled_by": "fiware.sandbox",
        "compiled_in": "fiware.sandbox",
        "release_date": "nodate",
        "machine": platform.machine(),
        "doc": f"https://fiware-orion.rtfd.io/en/{config.orion_version}/",
    }
    # Since Orion 4.0.0 (Changelog) `libversions` only with ?options=libVersions.
    if config.orion_major < 4 or "libVersions" in request.query_params.get("options", "").split(","):
        info["libversions"] = {
            "python": platform.python_version(),
            "starlette": starlette.__version__,
            "httpx": httpx.__version__,
        }
    return JSONResponse({"orion": info})


__all__ = [
    "create_subscription",
    "delete_subscription",
    "get_subscription",
    "list_subscriptions",
    "patch_subscription",
    "version",
]
