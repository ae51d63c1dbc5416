"""The sandbox's fake IoT Agent (JSON): in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_iota.app import create_app
from fiware.sandbox.fake_iota.errors import IotaError
from fiware.sandbox.fake_iota.store import IotaStore

__all__ = ["IotaError", "IotaStore", "create_app"]
