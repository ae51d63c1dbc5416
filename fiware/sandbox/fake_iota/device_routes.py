"""Device routes of the IoT Agent sandbox: ``/iot/devices`` (POST 201 ``{}``, GET list with ``count`` =
total and ``limit``/``offset``, no page cap, GET/PUT/DELETE by id) and ``POST /iot/op/delete``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fiware.sandbox.fake_iota.errors import IotaError, JsonDict, bad_request, device_not_found
from fiware.sandbox.fake_iota.http import json_response, no_content, parsed_body, store_of, tenant_of
from fiware.sandbox.fake_iota.validation import check_device_list, check_device_update


async def create_devices(request: Request) -> Response:
    body = await parsed_body(request)
    service, subservice = tenant_of(request)
    store_of(request).provision(service, subservice, check_device_list(body))
    return json_response(request, 201, {})


async def list_devices(request: Request) -> Response:
    service, subservice = tenant_of(request)
    params = request.query_params
    count, devices = store_of(request).list_devices(
        service, subservice, params.get("limit"), params.get("offset")
    )
    return json_response(request, 200, {"count": count, "devices": devices})


async def get_device(request: Request) -> Response:
    service, subservice = tenant_of(request)
    device_id = request.path_params["device_id"]
    device = store_of(request).get_device(device_id, request.query_params.get("apikey"), service, subservice)
    if device is None:
        # The registry's own error, which carries no type information ("… and undefined" in 4.14.0).
        raise device_not_found(device_id, None)
    return json_response(request, 200, device)


async def update_device(request: Request) -> Response:
    body = await parsed_body(request)
    service, subservice = tenant_of(request)
    update = check_device_update(body)
    if update.get("device_id"):
        raise bad_request("Can't change the ID of a preprovisioned device")
    device_id = request.path_params["device_id"]
    apikey = request.query_params.get("apikey")
    if not store_of(request).update_device(device_id, apikey, service, subservice, update):
        raise device_not_found(device_id, None)
    return no_content(request)


def _lookup_info(apikey: str | None, service: str, subservice: str) -> JsonDict:
    info: JsonDict = {} if apikey is None else {"apikey": apikey}
    return {**info, "service": service, "subservice": subservice}


async def delete_device(request: Request) -> Response:
    service, subservice = tenant_of(request)
    device_id = request.path_params["device_id"]
    apikey = request.query_params.get("apikey")
    if not store_of(request).remove_device(device_id, apikey, service, subservice):
        raise device_not_found(device_id, _lookup_info(apikey, service, subservice))
    return no_content(request)


async def delete_devices(request: Request) -> Response:
    body = await parsed_body(request)
    service, subservice = tenant_of(request)
    entries = body.get("devices") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise IotaError("TypeError", "req.body.devices is not iterable", 500)
    first_error: IotaError | None = None
    for entry in entries:
        # The existing devices are removed even when others are missing; the first miss is reported.
        fields = entry if isinstance(entry, dict) else {}
        device_id = "undefined" if fields.get("deviceId") is None else str(fields["deviceId"])
        apikey = fields.get("apikey")
        if (
            not store_of(request).remove_device(device_id, apikey, service, subservice)
            and first_error is None
        ):
            first_error = device_not_found(device_id, _lookup_info(apikey, service, subservice))
    if first_error is not None:
        raise first_error
    return no_content(request)
