"""Progress events: a custom stream event per stage (Studio, SDK and CLI show them) and a log line."""

from __future__ import annotations

import logging

log = logging.getLogger("pioneer")


def emit(stage: str, message: str, **data) -> None:
    log.info("[%s] %s", stage, message)
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()({"stage": stage, "message": message, **data})
    except Exception:  # noqa: BLE001 - outside a graph run there is no stream to write to
        pass
