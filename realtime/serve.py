"""Serve Colloquy: `python -m realtime.serve [--host H] [--port P] [--server uvicorn|daphne]`.

uvicorn on uvloop is the production server: measured in bench/RESULTS.md, the
same app costs less CPU per delivery and per connect than under daphne, whose
Twisted-on-asyncio reactor pays two epoll_ctl calls per write. daphne stays
supported (`--server daphne`): the app only asks the server for the handshake,
reading and the close.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")


def uvicorn_options(host: str, port: int, workers: int = 1,
                    proxy_headers: bool = False) -> dict[str, object]:
    from django.conf import settings

    from realtime.uvicorn_http import GuardedHttpToolsProtocol

    if workers > 1 and settings.PROFILE != "services":
        raise SystemExit("--workers needs the services profile: the embedded journal "
                         "and its in-process bus live in one process")
    return {
        "host": host,
        "port": port,
        # Each worker is a whole server process sharing the listening socket;
        # they meet through Redis like processes on different machines.
        "workers": workers,
        "loop": "uvloop",
        # httptools with a deadline for each request's headers (slowloris).
        "http": GuardedHttpToolsProtocol,
        "ws": "websockets-sansio",
        # Liveness is the protocol's own heartbeat (ping op, HEARTBEAT_SECONDS);
        # server pings on top would close a client whose reads are paused.
        "ws_ping_interval": None,
        # Compression is per socket (its own zlib context), so it would undo the
        # encode-once fan-out; frames are small JSON/msgpack.
        "ws_per_message_deflate": False,
        # Frames over MAX_FRAME_BYTES up to this reach the app, which closes with
        # its documented 4013; past it (2 MiB by default) the server cuts the
        # read off with 1009, so one socket never buffers more than that.
        "ws_max_size": 32 * settings.MAX_FRAME_BYTES,
        # Connect storms: a thousand reconnects arrive at once.
        "backlog": settings.LISTEN_BACKLOG,
        "lifespan": "off",
        "access_log": False,
        "log_level": os.environ.get("COLLOQUY_SERVER_LOG_LEVEL", "warning"),
        # Behind a load balancer: the client address from X-Forwarded-For.
        "proxy_headers": proxy_headers,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (services profile only)")
    parser.add_argument("--proxy-headers", action="store_true",
                        help="trust X-Forwarded-For from the load balancer")
    args = parser.parse_args(argv)
    if args.server == "daphne":
        from django.conf import settings

        endpoint = (f"tcp:port={args.port}:interface={args.host}"
                    f":backlog={settings.LISTEN_BACKLOG}")
        os.execvp(sys.executable, [
            sys.executable, "-m", "realtime.daphne_main", "-e", endpoint,
            "--websocket_timeout", "-1", "--websocket_connect_timeout", "30",
            "asgi:application",
        ])
    import uvicorn

    options = uvicorn_options(args.host, args.port, args.workers, args.proxy_headers)
    uvicorn.run("asgi:application", **options)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
