"""An agency service on the network refuses hostile bodies before parsing and serves on."""

from __future__ import annotations

import httpx

from agencies.service import MAX_BODY, create_service
from agencies.simulated import SimulatedBackend
from tests.fixtures.http import serving


def test_nesting_and_size_are_refused_and_the_service_serves_on(tmp_path):
    service = create_service(SimulatedBackend("tax", tmp_path))
    with serving(service) as url:
        nested = httpx.post(
            f"{url}/steps/tax_registration",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert nested.status_code in (400, 413)
        deep = httpx.post(
            f"{url}/steps/tax_registration",
            content=b'{"a":' + b"[" * 200 + b"]" * 200 + b"}",
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert deep.status_code == 400 and "deeper than 64" in deep.json()["detail"]
        large = httpx.post(
            f"{url}/steps/tax_registration",
            content=b" " * (MAX_BODY + 1),
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert large.status_code == 413
        still = httpx.post(f"{url}/steps/tax_registration", json={}, timeout=60)
        assert still.status_code == 422  # parsed and validated as usual: the service is alive
