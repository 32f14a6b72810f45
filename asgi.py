"""ASGI entry point: HTTP → Django; WebSocket /ws/ → auth policy → ColloquySocket."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from consumers.socket import websocket_app  # noqa: E402
from realtime.auth import WebSocketAuth  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_app,
    "websocket": WebSocketAuth(URLRouter([path("ws/", websocket_app)])),
})
