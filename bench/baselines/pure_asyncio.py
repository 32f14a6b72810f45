"""The Python limit on this box: a bare asyncio WebSocket broadcast, no Redis, no Django.

Every connected socket is in one room. A frame received from any socket is
written, unchanged, to every connected socket (the sender included), with
`websockets.broadcast`, which frames the message once and writes it to each
transport without awaiting. Nothing is stored, nothing is acknowledged.

    python -m bench.baselines.pure_asyncio --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import resource

from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTED: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CONNECTED.add(ws)
    try:
        async for message in ws:
            broadcast(CONNECTED, message)
    finally:
        CONNECTED.discard(ws)


async def main(host: str, port: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # backlog: a thousand clients connect at once; compression off like the other servers.
    async with serve(handler, host, port, backlog=4096, compression=None,
                     ping_interval=20, max_queue=64) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
