"""An SMTP server on loopback that accepts and drops mail, so reveal receipts cost a real exchange."""

from __future__ import annotations

import asyncio
import threading

from bench.processes import LOOPBACK


class SmtpSink(threading.Thread):
    """Accepts and discards mail on `host` (loopback by default); `messages` counts what it accepted."""

    def __init__(self, port: int, *, host: str = LOOPBACK) -> None:
        super().__init__(daemon=True, name="smtp-sink")
        self.port = port
        self.host = host
        self.messages = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    writer.write(b"354 end with .\r\n")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    self.messages += 1
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        finally:
            writer.close()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._session, self.host, self.port, backlog=256)
        )
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
