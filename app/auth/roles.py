"""Roles, each allowed everything the one before it is."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # queries and subscriptions
    EDITOR = "editor"  # + model, training and prediction mutations
    ADMIN = "admin"  # + API keys, every tenant

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, required: Role) -> bool:
        return self.rank >= required.rank


__all__ = ["Role"]
