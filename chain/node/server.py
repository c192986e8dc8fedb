"""JSON-RPC over HTTP on the standard library's threading server (keep-alive, POST /)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from chain.node.rpc import Rpc

if TYPE_CHECKING:
    from chain.node.node import LedgerNode

log = logging.getLogger("chain.node.server")

MAX_BODY = 32 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    rpc: Rpc


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive responses wait ~40 ms for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s - " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(413, b'{"error":"request too large"}')
            return
        body = self.rfile.read(length)
        out = self.server.rpc.handle_bytes(body)
        self._send(200, out if out is not None else b"")

    def do_GET(self) -> None:  # noqa: N802
        # liveness probe
        self._send(200, b'{"status":"ok"}')


def serve(node: "LedgerNode", host: str, port: int) -> tuple[_Server, str]:
    server = _Server((host, port), _Handler)
    server.rpc = Rpc(node)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="ledger-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"
