"""The sandbox's fake Cygnus: Orion notifications in, STH-Comet raw documents out, over real HTTP."""

from fiware.sandbox.fake_cygnus.app import create_app
from fiware.sandbox.fake_cygnus.handler import Attribute, Event, Refused, events
from fiware.sandbox.fake_cygnus.sink import persist

__all__ = ["Attribute", "Event", "Refused", "create_app", "events", "persist"]
