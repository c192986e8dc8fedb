"""JSON-RPC over HTTP on the standard library's threading server (keep-alive, POST /)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from chain.jsonguard import JsonRefused, check_json
from chain.node.errors import INVALID_REQUEST, LIMIT_EXCEEDED, NOT_AUTHORIZED, error_response
from chain.node.rpc import Rpc

if TYPE_CHECKING:
    from chain.node.node import LedgerNode

log = logging.getLogger("chain.node.server")

MAX_BODY = 4 * 1024 * 1024  # a contract deployment is ~20 KB; batches of many calls fit
MAX_CONNECTIONS = 1024  # a thread each (keep-alive); past this a new connection is closed at once
IDLE_TIMEOUT_S = 60  # a keep-alive connection silent this long is closed, freeing its thread
MAX_EXECUTING = 8  # requests executing at once; the rest wait their turn
BUSY_WAIT_S = 30.0  # a request that cannot start within this is answered 503


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    rpc: Rpc
    admin_key: object | None = None  # the admin interface: the public key every request's JWT must verify under

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.executing = threading.BoundedSemaphore(MAX_EXECUTING)

    def process_request(self, request, client_address) -> None:
        if not self.connections.acquire(blocking=False):
            log.warning("refusing a connection from %s: %d open", client_address, MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # else keep-alive responses wait ~40 ms for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s - " + format, self.address_string(), *args)

    def _refuse(self, status: int, code: int, message: str) -> None:
        self.close_connection = True
        self._send(status, json.dumps(error_response(None, code, message)).encode())

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            # said, not just done: a client that pools connections would otherwise send its next
            # request down this one as it closes ("server disconnected without a response")
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._refuse(413, LIMIT_EXCEEDED, f"request body over {MAX_BODY} bytes (or no valid Content-Length)")
            return
        body = self.rfile.read(length)
        if self.server.admin_key is not None:
            refusal = admin_refusal(self.headers.get("Authorization"), self.server.admin_key)
            if refusal:
                self._refuse(401, NOT_AUTHORIZED, refusal)
                return
        try:
            check_json(body, MAX_BODY)  # before json.loads, which deep nesting would crash
        except JsonRefused as exc:
            self._refuse(exc.status, INVALID_REQUEST, str(exc))
            return
        self.server.rpc.await_pending_receipt(body)  # outside the executing slots: waiting costs none
        if not self.server.executing.acquire(timeout=BUSY_WAIT_S):
            self._refuse(503, LIMIT_EXCEEDED, "the node is busy; try again")
            return
        try:
            out = self.server.rpc.handle_bytes(body)
        finally:
            self.server.executing.release()
        self._send(200, out if out is not None else b"")

    def do_GET(self) -> None:  # noqa: N802
        # liveness probe
        self._send(200, b'{"status":"ok"}')


ADMIN_JWT_ALGORITHMS = ["ES256"]  # as the generated Besu config; never "none", never HMAC
ADMIN_JWT_MAX_LIFETIME_S = 3600


def admin_refusal(authorization: str | None, public_key) -> str | None:
    """Why a request to the admin interface is refused, or None: it needs ``Authorization: Bearer
    <JWT>`` signed ES256 by the operator's key, with iat and exp, living at most an hour."""
    import jwt

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "the admin interface needs Authorization: Bearer <JWT>"
    try:
        claims = jwt.decode(token, public_key, algorithms=ADMIN_JWT_ALGORITHMS, options={"require": ["iat", "exp"]})
    except jwt.PyJWTError as exc:
        return f"admin JWT refused: {exc}"
    if claims["exp"] - claims["iat"] > ADMIN_JWT_MAX_LIFETIME_S:
        return f"admin JWT refused: it may live at most {ADMIN_JWT_MAX_LIFETIME_S} s"
    return None


def serve(node: LedgerNode, host: str, port: int, admin_key=None) -> tuple[_Server, str]:
    """The public interface, or with ``admin_key`` (a public key) the admin one (perm_*)."""
    server = _Server((host, port), _Handler)
    server.rpc = Rpc(node, admin=admin_key is not None)
    server.admin_key = admin_key
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.2},
        name="ledger-admin" if admin_key is not None else "ledger-http",
        daemon=True,
    )
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"
