"""Config group routes of the IoT Agent sandbox, on ``/iot/services`` and ``/iot/groups``: POST 201
``{}``; GET with ``fiware-servicepath: /*`` listing the whole service with ``limit``/``offset``,
otherwise the exact service and subservice; PUT/DELETE 204 keyed by the ``resource``/``apikey`` query
parameters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fiware.sandbox.fake_iota.errors import missing_headers, wrong_syntax
from fiware.sandbox.fake_iota.http import json_response, no_content, parsed_body, store_of, tenant_of
from fiware.sandbox.fake_iota.validation import GROUP_QUERY_PARAMETERS, check_group_list

WILDCARD_SERVICE_PATH = "/*"


def _group_keys(request: Request) -> tuple[str, str]:
    missing = [name for name in GROUP_QUERY_PARAMETERS if name not in request.query_params]
    if missing:
        raise missing_headers(missing)  # sic: the library reports query parameters as headers
    return request.query_params["resource"], request.query_params["apikey"]


def _list_key(request: Request) -> str:
    # Each path expects and answers its own list key; clients of either never see the other.
    return "groups" if request.url.path == "/iot/groups" else "services"


async def create_groups(request: Request) -> Response:
    body = await parsed_body(request)
    service, subservice = tenant_of(request)
    groups = check_group_list(body, _list_key(request))
    store_of(request).create_groups(service, subservice, groups)
    return json_response(request, 201, {})


async def list_groups(request: Request) -> Response:
    service, subservice = tenant_of(request)
    key = _list_key(request)
    if subservice == WILDCARD_SERVICE_PATH:
        params = request.query_params
        count, groups = store_of(request).list_groups(service, params.get("limit"), params.get("offset"))
    else:
        # The exact subservice: every group there, no paging (groupRegistry.find ignores limit/offset).
        groups = store_of(request).find_groups(service, subservice)
        count = len(groups)
    return json_response(request, 200, {"count": count, key: groups})


async def update_group(request: Request) -> Response:
    body = await parsed_body(request)
    service, subservice = tenant_of(request)
    resource, apikey = _group_keys(request)
    if not isinstance(body, dict):
        raise wrong_syntax()
    store_of(request).update_group(service, subservice, resource, apikey, body)
    return no_content(request)


async def delete_group(request: Request) -> Response:
    service, subservice = tenant_of(request)
    resource, apikey = _group_keys(request)
    with_devices = bool(request.query_params.get("device"))
    store_of(request).remove_group(service, subservice, resource, apikey, with_devices=with_devices)
    return no_content(request)
