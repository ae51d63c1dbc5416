"""The sandbox's fake STH-Comet: in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_sth.app import create_app
from fiware.sandbox.fake_sth.store import SthStore, same_json

__all__ = ["SthStore", "create_app", "same_json"]
