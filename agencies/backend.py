"""What an agency's back-end does for a step, behind one interface.

``AgencyBackend.perform(request)`` returns the step's outputs, raises ``Refused`` when the agency
turns the application down (a business decision that becomes a signed "rejected" handoff), or
``Unavailable`` when it cannot answer now (retried with back-off). Two implementations: the
simulated back-ends (embedded default, ``agencies.simulated``) and ``RemoteBackend``, a client
for an agency service over HTTP (``agencies.service`` serves any back-end that way).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from workflows.messages import CompensateInput, StepInput


class Refused(Exception):
    """The agency refuses the application for this step; ``reason`` is shown to the applicant."""

    def __init__(self, reason: str, code: str = "Refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Unavailable(Exception):
    """The agency's system cannot answer now; the step is retried with back-off."""


class Broken(Exception):
    """The agency's system can never do this step for this case (not a refusal: a fault)."""


def parent_output(request: StepInput, key: str) -> Any:
    """``key`` from the outputs of the handoffs this step depends on (a licence's credit code…)."""
    for parent in request.parents:
        if key in parent.record.outputs:
            return parent.record.outputs[key]
    raise Refused(f"no upstream handoff carries {key!r}", "MissingInput")


class AgencyBackend(Protocol):
    agency: str

    def perform(self, request: StepInput) -> dict[str, Any]: ...

    def compensate(self, request: CompensateInput) -> dict[str, Any]: ...


class RemoteBackend:
    """Client for an agency service (``POST {base_url}/steps/{step}``, see ``agencies.service``)."""

    def __init__(
        self,
        agency: str,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ):
        """``token``: the service's bearer token. ``timeout``: for an answer; a service that does
        not accept the connection within 3 s is unavailable now (the step's retry policy backs off
        and asks again)."""
        self.agency = agency
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(timeout, connect=3.0), headers=headers
        )

    def perform(self, request: StepInput) -> dict[str, Any]:
        return self._call(f"/steps/{request.step}", request.model_dump_json(), request.key)

    def compensate(self, request: CompensateInput) -> dict[str, Any]:
        return self._call(f"/compensations/{request.action}", request.model_dump_json(), request.key)

    def _call(self, path: str, body: str, key: str) -> dict[str, Any]:
        try:
            resp = self._client.post(
                path, content=body, headers={"content-type": "application/json", "idempotency-key": key}
            )
        except httpx.TransportError as exc:
            raise Unavailable(f"{self.agency} service unreachable: {exc}") from exc
        if resp.status_code == 200:
            return resp.json()["outputs"]
        if resp.status_code == 409:
            body = resp.json()
            raise Refused(body["reason"], body.get("code", "Refused"))
        if resp.status_code in (401, 403):  # the operator's to mend (the token); the step waits meanwhile
            raise Unavailable(f"{self.agency} service refused this worker's token ({resp.status_code})")
        if resp.status_code in (429, 502, 503, 504) or resp.status_code >= 500:
            raise Unavailable(f"{self.agency} service answered {resp.status_code}")
        raise Broken(f"{self.agency} service answered {resp.status_code}: {resp.text[:500]}")
