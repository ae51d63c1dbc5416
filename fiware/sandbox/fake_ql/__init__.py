"""The sandbox's fake QuantumLeap: in memory, over real HTTP, following the documented contract."""

from fiware.sandbox.fake_ql.app import QL_VERSIONS, create_app
from fiware.sandbox.fake_ql.notify import ingest, prepare
from fiware.sandbox.fake_ql.store import Column, Entity, QlStore, Row

__all__ = ["QL_VERSIONS", "Column", "Entity", "QlStore", "Row", "create_app", "ingest", "prepare"]
