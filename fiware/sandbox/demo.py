"""Demo sensors for the sandbox, on real public time series that ship inside PyPI packages.

- Sea-surface temperature of NERACOOS buoy B01 (Gulf of Maine), every 30 min, 19,226 readings of
  which two share a time, so STH-Comet holds 19,225 points (``bokeh-sampledata``); °C.
- Seattle hourly air temperature of 2010, 8,759 points (``vega-datasets``); °F as published.

Each becomes an IoT Agent device, an Orion entity holding the latest value and an STH-Comet
history. The series are moved in time, intact, so that they end just before the sandbox
starts: a live-looking demo on real data. The ``dataSource`` attribute says where each is from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fiware.sandbox.fake_iota import IotaStore
from fiware.sandbox.fake_orion import OrionStore
from fiware.sandbox.fake_ql import QlStore
from fiware.sandbox.fake_sth import SthStore

DEMO_APIKEY = "chronos-demo"
DEMO_RESOURCE = "/iot/d"


@dataclass(frozen=True)
class DemoSensor:
    device_id: str
    entity_id: str
    entity_type: str
    attribute: str
    source: str
    step: timedelta


SENSORS = [
    DemoSensor(
        device_id="buoy-b01",
        entity_id="urn:ngsi-ld:WaterQualityObserved:NERACOOS-B01",
        entity_type="WaterQualityObserved",
        attribute="temperature",
        source="NERACOOS buoy B01 sea-surface temperature 2016-02..2017-03, bokeh-sampledata",
        step=timedelta(minutes=30),
    ),
    DemoSensor(
        device_id="seattle-air",
        entity_id="urn:ngsi-ld:WeatherObserved:Seattle",
        entity_type="WeatherObserved",
        attribute="temperature",
        source="Seattle hourly air temperature 2010 (°F), vega-datasets",
        step=timedelta(hours=1),
    ),
]


class DemoDataMissing(RuntimeError):
    """The packages carrying the demo series are not installed (the production image leaves them out)."""


def _raw_series(sensor: DemoSensor) -> list[tuple[datetime, float]]:
    try:
        return _load(sensor)
    except ImportError as error:
        raise DemoDataMissing(
            f"the demo series need the `demo` extra ({error.name} is not installed): "
            "pip install -r requirements-dev.lock, or pip install 'chronos[demo]'"
        ) from None


def _load(sensor: DemoSensor) -> list[tuple[datetime, float]]:
    # Imported here: pandas and the data files load only when a demo is asked for.
    if sensor.device_id == "buoy-b01":
        from bokeh_sampledata.sea_surface_temperature import sea_surface_temperature as frame

        return [(ts.to_pydatetime(), float(v)) for ts, v in frame["temperature"].items()]
    from vega_datasets import data

    table = data.seattle_temps()
    return [
        (ts.to_pydatetime().replace(tzinfo=UTC), float(v))
        for ts, v in zip(table["date"], table["temp"], strict=True)
    ]


def shifted(
    points: list[tuple[datetime, float]], *, end: datetime, step: timedelta
) -> Iterator[tuple[datetime, float]]:
    """The series moved by a whole number of steps so that its last point is at or before ``end``."""
    last = points[-1][0]
    steps = (end - last) // step
    offset = step * steps
    for moment, value in points:
        yield moment + offset, value


def seed_demo(
    *,
    sth: SthStore,
    orion: OrionStore,
    iota: IotaStore,
    ql: QlStore | None = None,
    service: str = "smart",
    service_path: str = "/",
    now: datetime | None = None,
) -> dict[str, int]:
    """Provision every demo sensor, its history in STH-Comet and, when given, in QuantumLeap too
    (either store can serve it); answers the number of history points per entity id."""
    end = now or datetime.now(UTC)
    iota.add_group(
        service=service,
        service_path=service_path,
        group={"apikey": DEMO_APIKEY, "resource": DEMO_RESOURCE, "entity_type": "Thing"},
    )
    stored: dict[str, int] = {}
    for sensor in SENSORS:
        points = list(shifted(_raw_series(sensor), end=end, step=sensor.step))
        series = {
            "service": service,
            "service_path": service_path,
            "entity_type": sensor.entity_type,
            "entity_id": sensor.entity_id,
            "attr_name": sensor.attribute,
        }
        sth.add_points(**series, attr_type="Number", points=points)
        if ql is not None:
            ql.add_points(**series, attr_type="Number", points=points)
        # What STH holds, not what was sent: two readings at one time are one point there.
        stored[sensor.entity_id] = sth.count(**series)
        _provision(sensor, points[-1], iota=iota, orion=orion, service=service, service_path=service_path)
    return stored


def _provision(
    sensor: DemoSensor,
    last: tuple[datetime, float],
    *,
    iota: IotaStore,
    orion: OrionStore,
    service: str,
    service_path: str,
) -> None:
    """The sensor's IoT Agent device and its Orion entity, holding the newest reading."""
    iota.add_device(
        service=service,
        service_path=service_path,
        device={
            "device_id": sensor.device_id,
            "entity_name": sensor.entity_id,
            "entity_type": sensor.entity_type,
            "apikey": DEMO_APIKEY,
            "transport": "HTTP",
            "protocol": "PDI-IoTA-UltraLight",
            "attributes": [{"object_id": "t", "name": sensor.attribute, "type": "Number"}],
        },
    )
    last_time, last_value = last
    stamp = last_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    orion.upsert_entity(
        service=service,
        service_path=service_path,
        entity={
            "id": sensor.entity_id,
            "type": sensor.entity_type,
            sensor.attribute: {
                "type": "Number",
                "value": last_value,
                "metadata": {"TimeInstant": {"type": "DateTime", "value": stamp}},
            },
            "dataSource": {"type": "Text", "value": sensor.source},
        },
    )


__all__ = ["DEMO_APIKEY", "SENSORS", "DemoDataMissing", "DemoSensor", "seed_demo", "shifted"]
