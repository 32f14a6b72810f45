"""Ops that apps add to the protocol, registered from their AppConfig.ready.

The socket finds an op in its own table (consumers/ops.py) or here. A handler
gets the session (realtime.access.Session) and the decoded request, returns the
fields of the ok frame, and raises ProtocolError for an error frame, exactly
like the built-in ops; it parses fields and calls one action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from realtime.access import Session

AppHandler = Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any]]]

APP_OPS: dict[str, AppHandler] = {}


def register_op(name: str, handler: AppHandler) -> None:
    known = APP_OPS.get(name)
    if known is not None and known is not handler:
        raise ValueError(f"op {name!r} is registered twice")
    APP_OPS[name] = handler
