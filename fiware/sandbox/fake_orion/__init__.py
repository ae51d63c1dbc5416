"""The sandbox's fake Orion Context Broker: in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_orion.app import OrionStore, create_app

__all__ = ["OrionStore", "create_app"]
