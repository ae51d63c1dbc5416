"""The sandbox's fake STH-Comet: in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_sth.app import SthStore, create_app, same_json

__all__ = ["SthStore", "create_app", "same_json"]
