"""Minimal Django settings for the stock-Channels baseline (bench only).

The channel layer is the stock RedisChannelLayer with its stock capacity
(100). Only the redis-py connection options are set, because the defaults
do not survive this load (DESIGN.md, "Pitfalls"): `socket_timeout=5` breaks
the layer's blocking reads, and the pool of 100 connections raises instead
of waiting when a thousand consumers connect at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SECRET_KEY = "bench-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.baselines.stock_channels.urls"
ASGI_APPLICATION = "bench.baselines.stock_channels.asgi.application"
# The tutorial keeps SQLite; nothing on the socket path reads it.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(tempfile.gettempdir()) / "stock-channels-bench.sqlite3",
    }
}
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{
                "address": os.environ.get("STOCK_REDIS_URL", "redis://127.0.0.1:6379/12"),
                # Blocking reads (BZPOPMIN, 5 s) must not hit a socket timeout.
                "socket_timeout": None,
                "socket_connect_timeout": 5,
                # One connection per concurrent call; enough for every consumer.
                "max_connections": 20000,
            }],
            "prefix": os.environ.get("STOCK_PREFIX", "stockbench"),
        },
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
