"""Security-event logging through ``logging.getLogger("headerware")``.

Every refusal or dropped value is logged as one record whose message names the
event and whose ``extra`` carries the structured fields (``hw_event`` and
``hw_fields``), so log pipelines can index them. Callers never pass secrets.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("headerware")


def security_event(event: str, level: int = logging.WARNING, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as a structured security event."""
    if not logger.isEnabledFor(level):
        return
    rendered = " ".join(f"{key}={value!r}" for key, value in fields.items())
    logger.log(
        level,
        "%s %s",
        event,
        rendered,
        extra={"hw_event": event, "hw_fields": fields},
    )
