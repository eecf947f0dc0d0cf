#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""tests/system/tcpproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT

A TCP forwarder on 127.0.0.1:LISTEN_PORT (TLS passes through untouched), so
that a test can cut a client off from a server and let it back: kill the
proxy (every connection drops, new ones are refused), start it again on the
same port. Prints "ready" once it listens."""
import asyncio
import sys


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def main():
    lport, host, tport = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(host, tport)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    server = await asyncio.start_server(handle, "127.0.0.1", lport, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
