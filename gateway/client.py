"""A small client of the gateway's REST API for the CLI (and for scripts)."""

from __future__ import annotations

from typing import Any

import httpx

from chain import jsonguard

MAX_RESPONSE = 256 * 1024 * 1024  # an evidence bundle of a long case, with room


class ApiError(Exception):
    """The gateway refused or failed a request; the message is meant for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse(resp: httpx.Response) -> Any:
    """The response's JSON, bounded before parsing: a hostile gateway's nesting must not crash the
    auditor's CLI (py_ecc lifts the recursion limit, so json.loads would overflow the C stack)."""
    try:
        return jsonguard.loads(resp.content, MAX_RESPONSE)
    except jsonguard.JsonRefused as exc:
        raise ApiError(resp.status_code, f"refused the gateway's answer to {resp.request.url.path}: {exc}") from exc
    except ValueError as exc:
        raise ApiError(resp.status_code, f"the gateway's answer to {resp.request.url.path} is not JSON: {exc}") from exc


def describe_error(resp: httpx.Response) -> str:
    try:
        detail = jsonguard.loads(resp.content, 1024 * 1024).get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    if isinstance(detail, list):  # pydantic validation errors: name each field and its rule
        lines = []
        for err in detail:
            loc = ".".join(str(p) for p in err.get("loc", []) if p != "body")
            lines.append(f"{loc or 'request'}: {err.get('msg', '').removeprefix('Value error, ')}")
        return "invalid input:\n  " + "\n  ".join(lines)
    return str(detail)


def public_get(url: str, path: str, timeout: float = 30.0) -> Any:
    """GET a public (no sign-in) route of the gateway."""
    try:
        resp = httpx.get(url.rstrip("/") + path, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ApiError(0, f"cannot reach the gateway at {url}: {exc}") from exc
    if resp.status_code >= 400:
        raise ApiError(resp.status_code, describe_error(resp))
    return parse(resp)


class Api:
    def __init__(self, url: str, user: str, password: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self.user, self.password = user, password
        self._token: str | None = None

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            resp = self._send("POST", "/api/v1/auth/token", data={"username": self.user, "password": self.password})
            self._token = parse(resp)["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the gateway at {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, describe_error(resp))
        return resp

    def get(self, path: str) -> Any:
        return parse(self._send("GET", path, headers=self._auth()))

    def post(self, path: str, body: Any) -> Any:
        return parse(self._send("POST", path, json=body, headers=self._auth()))

    def health(self) -> dict[str, Any]:
        try:
            return parse(httpx.get(f"{self.url}/healthz", timeout=10))
        except (httpx.HTTPError, ApiError) as exc:
            raise ApiError(0, f"cannot read {self.url}/healthz: {exc}") from exc
