"""Naming rules of FIWARE NGSI v2, as Orion enforces them.

Each ``check_*`` function returns ``None`` for a valid value, or a sentence saying what is
wrong, so callers can collect every problem of an input at once.
"""

from __future__ import annotations

import re

# Orion: tenant names are lower-cased, at most 50 alphanumerics or underscores.
_SERVICE = re.compile(r"[a-z0-9_]{1,50}")
_PATH_LEVEL = re.compile(r"[A-Za-z0-9_]{1,50}")
_MAX_PATH_LEVELS = 10
# NGSI v2 "Field syntax restrictions": ids, types and attribute names are 1-256 printable
# ASCII characters, without whitespace and without & ? / # < > " ' = ; ( ).
_NGSI_FORBIDDEN = set("&?/#<>\"'=;()")
_NGSI_MAX = 256


def check_service(value: str) -> str | None:
    if not _SERVICE.fullmatch(value):
        return "must be 1-50 lower-case letters, digits or underscores (Orion refuses other tenant names)"
    return None


def check_service_path(value: str) -> str | None:
    """One service path as updates take it: ``/`` or ``/level/level`` (no ``#``, no commas)."""
    if value == "/":
        return None
    if not value.startswith("/"):
        return "must be absolute, starting with '/'"
    levels = value[1:].split("/")
    if len(levels) > _MAX_PATH_LEVELS:
        return f"must have at most {_MAX_PATH_LEVELS} levels"
    if not all(_PATH_LEVEL.fullmatch(level) for level in levels):
        return "each level must be 1-50 letters, digits or underscores"
    return None


def check_ngsi_name(value: str) -> str | None:
    """An entity id, entity type or attribute name."""
    if not value:
        return "must not be empty"
    if len(value) > _NGSI_MAX:
        return f"must be at most {_NGSI_MAX} characters"
    bad = sorted({c for c in value if not (33 <= ord(c) <= 126) or c in _NGSI_FORBIDDEN})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"contains characters NGSI v2 forbids: {shown}"
    return None


__all__ = ["check_ngsi_name", "check_service", "check_service_path"]
