"""The fast start: an agent shown from the preview it left when it last closed, while the runtime
(LanceDB, the model client) loads behind the screen. Light to import, unlike ``runtime``."""

from __future__ import annotations

import logging

from .config import Settings
from .engine.agent import Agent
from .store import preview

log = logging.getLogger(__name__)


def from_preview(settings: Settings, name: str) -> Agent | None:
    """None when there is no preview or it cannot be read: that only costs the fast start."""
    try:
        data = preview.read(settings.agents_root(), name)
        return Agent.from_preview(data, settings.limits) if data is not None else None
    except Exception:
        log.exception("preview of %s", name)
        return None
