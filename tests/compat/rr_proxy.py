"""A round-robin TCP proxy on loopback: each new connection goes to the next upstream.

    python rr_proxy.py LISTEN_PORT UPSTREAM_PORT...

Used to put several meshgate replicas (one PostgreSQL database) behind one URL, so the
Python suites exercise them as one gateway: a peer registered through one replica is
read, messaged and streamed through another.
"""

import asyncio
import itertools
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001
            pass


async def main(listen, upstreams):
    nxt = itertools.cycle(upstreams)

    async def handle(client_r, client_w):
        port = next(nxt)
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
