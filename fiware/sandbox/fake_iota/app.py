"""IoT Agent stand-in: the provisioning (northbound) API of ``iotagent-node-lib`` 4.14, in memory.

Follows the library's code (``lib/services/northBound/*.js``, ``lib/errors.js``) and a real run of
``iotagent-node-lib@4.14.0`` from npm with the memory registry, where they disagree with its
``doc/api.md`` (which says 200 for POST and 404 for an empty device list). This module holds
``/iot/about`` and the app; ``group_routes`` and ``device_routes`` the provisioning routes, ``http``
the headers and bodies common to them, ``validation`` the body templates, ``errors`` the library's
errors, ``store`` the groups and devices, ``registration`` the completion of a provisioned device and
``translation`` the names on the wire against the names in the registry. Bodies have the same keys,
the same key order and the same error messages as the real run.

- routes: config groups on ``/iot/services`` and ``/iot/groups`` (POST 201 ``{}``; GET with
  ``fiware-servicepath: /*`` listing the whole service with ``limit``/``offset``, otherwise the exact
  service and subservice; PUT/DELETE 204 keyed by the ``resource``/``apikey`` query parameters);
  devices on ``/iot/devices`` (POST 201 ``{}``, GET list with ``count`` = total and
  ``limit``/``offset``, no page cap, GET/PUT/DELETE by id), ``POST /iot/op/delete``,
  ``/iot/about`` and ``/version`` (which need no fiware headers).
- ``/iot/about``: ``libVersion``, ``port``, ``baseRoot``, ``version``.

Deliberately not implemented: the southbound side (measures, commands, lazy attributes) and
therefore any call to Orion (provisioning a plain device does not create the entity anyway:
``devices-NGSI-v2.js`` ``createInitialEntityNgsi2``); ``/iot/configGroups``, ``/ready``,
``/metrics``, ``/admin/log``; entity names from ``entityNameExp`` and NGSI-LD names; the full
revalidator templates (see ``validation``).
Unknown paths answer Starlette's 404 and wrong methods its 405, where Express answers 404 HTML.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_iota.device_routes import (
    create_devices,
    delete_device,
    delete_devices,
    get_device,
    list_devices,
    update_device,
)
from fiware.sandbox.fake_iota.errors import IotaError
from fiware.sandbox.fake_iota.group_routes import create_groups, delete_group, list_groups, update_group
from fiware.sandbox.fake_iota.http import BodySyntaxError, json_response, on_iota_error, on_syntax_error
from fiware.sandbox.fake_iota.store import IotaStore
from fiware.sandbox.latency import LatencyMiddleware

LIB_VERSION = "4.14.0"
# `config.iotaVersion` of a real agent; the library reports it in /iot/about only when it is set.
IOTA_VERSION = "0.0.0-sandbox"
# Reported by /iot/about when the listening port is unknown (not served over a socket).
DEFAULT_PORT = 4041


async def about(request: Request) -> Response:
    server = request.scope.get("server")
    port = server[1] if server and server[1] is not None else DEFAULT_PORT
    return json_response(
        request, 200, {"libVersion": LIB_VERSION, "port": port, "baseRoot": "/", "version": IOTA_VERSION}
    )


def create_app(config: SandboxConfig | None = None, store: IotaStore | None = None) -> Starlette:
    config = config or SandboxConfig()
    routes = [
        Route("/iot/about", about, methods=["GET"]),
        Route("/version", about, methods=["GET"]),
        Route("/iot/devices", list_devices, methods=["GET"]),
        Route("/iot/devices", create_devices, methods=["POST"]),
        Route("/iot/devices/{device_id}", get_device, methods=["GET"]),
        Route("/iot/devices/{device_id}", update_device, methods=["PUT"]),
        Route("/iot/devices/{device_id}", delete_device, methods=["DELETE"]),
        Route("/iot/op/delete", delete_devices, methods=["POST"]),
    ]
    for path in ("/iot/services", "/iot/groups"):
        routes += [
            Route(path, list_groups, methods=["GET"]),
            Route(path, create_groups, methods=["POST"]),
            Route(path, update_group, methods=["PUT"]),
            Route(path, delete_group, methods=["DELETE"]),
        ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(LatencyMiddleware, seconds=config.latency_seconds)],
        exception_handlers={IotaError: on_iota_error, BodySyntaxError: on_syntax_error},
    )
    app.state.store = store if store is not None else IotaStore()
    return app
