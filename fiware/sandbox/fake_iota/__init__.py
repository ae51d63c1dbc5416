"""The sandbox's fake IoT Agent (JSON): in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_iota.app import IotaError, IotaStore, create_app

__all__ = ["IotaError", "IotaStore", "create_app"]
