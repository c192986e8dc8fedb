"""POST /api/v1/codec/decode: Temporal's codec server protocol for the CLI and the Web UI, decoding
with the data key, for auditors only, each call logged and counted; what is not ours is refused."""

from __future__ import annotations

import base64
import logging

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from workflows.codec import EncryptionCodec


def as_json(p: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


async def test_an_auditor_reads_a_payload_of_the_history_in_the_clear(in_process_gateway, tmp_path, caplog):
    gw = in_process_gateway
    key = (tmp_path / "keys" / "data.key").read_text().strip()  # the gateway's data key on this stack
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"id_number": "370102198806151237"}])
    [sealed] = await EncryptionCodec(key).encode([plain])
    headers = gw.login("auditor") | {"X-Namespace": "default"}
    with caplog.at_level(logging.WARNING, logger="onevisit.gateway.codec"):
        resp = gw.http.post("/api/v1/codec/decode", json={"payloads": [as_json(sealed)]}, headers=headers)
    assert resp.status_code == 200, resp.text
    [back] = resp.json()["payloads"]
    assert base64.b64decode(back["data"]) == plain.data
    assert base64.b64decode(back["metadata"]["encoding"]) == b"json/plain"
    assert "decoded 1 payload(s) of namespace default for auditor" in caplog.text
    assert 'onevisit_codec_decoded_payloads_total{auditor="auditor"} 1.0' in gw.http.get("/metrics").text


async def test_a_payload_not_sealed_with_our_key_is_refused_by_name(in_process_gateway):
    gw = in_process_gateway
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"x": 1}])
    resp = gw.http.post("/api/v1/codec/decode", json={"payloads": [as_json(plain)]}, headers=gw.login("auditor"))
    [error] = resp.json()["detail"]  # in the shape of every 422, naming the field
    assert resp.status_code == 422 and error["loc"] == ["body", "payloads"]
    assert "not encrypted under the data key" in error["msg"]
    bad = gw.http.post("/api/v1/codec/decode", json={"payloads": [{"bogus": 1}]}, headers=gw.login("auditor"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["msg"].startswith("not Temporal payloads")


async def test_an_auditor_reads_what_was_sealed_for_an_agency_too(in_process_gateway, tmp_path):
    """An activity's input for the tax bureau and the bureau's result, each sealed with the tax
    bureau's own payload key, which the operator derives from the data key: the decoder reads both."""
    from workflows.codec import AgencyCodec, agency_recipient, payload_key

    key = (tmp_path / "keys" / "data.key").read_text().strip()
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"credit_code": "91370102MA3C4XQX1K"}])
    [sealed] = await AgencyCodec("tax", payload_key(key, agency_recipient("tax"))).encode([plain])
    resp = in_process_gateway.http.post(
        "/api/v1/codec/decode", json={"payloads": [as_json(sealed)]}, headers=in_process_gateway.login("auditor")
    )
    assert resp.status_code == 200, resp.text
    assert base64.b64decode(resp.json()["payloads"][0]["data"]) == plain.data


def test_an_admin_reads_no_payload(in_process_gateway):
    resp = in_process_gateway.http.post(
        "/api/v1/codec/decode", json={"payloads": []}, headers=in_process_gateway.login("admin")
    )
    assert resp.status_code == 403


def test_the_temporal_web_ui_may_call_it_from_its_own_origin(tmp_path, monkeypatch, fake_temporal):
    from fastapi.testclient import TestClient

    import gateway.app
    from gateway.deployment import write_deployment
    from gateway.settings import Settings
    from tests.fixtures.gateway import DEPLOYMENT

    async def connect_fake_temporal(_settings):
        return fake_temporal

    monkeypatch.setattr(gateway.app, "connect_temporal", connect_fake_temporal)
    write_deployment(tmp_path / "deployment.json", DEPLOYMENT, {})
    settings = Settings(data_dir=tmp_path, temporal_ui_url="http://127.0.0.1:8233", ledger_rpc="http://127.0.0.1:9")
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-namespace"}
    with TestClient(gateway.app.create_app(settings)) as http:
        ui = http.options("/api/v1/codec/decode", headers={"Origin": "http://127.0.0.1:8233", **ask})
        other = http.options("/api/v1/codec/decode", headers={"Origin": "http://evil.example", **ask})
    assert ui.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    assert ui.headers["access-control-allow-credentials"] == "true"  # the codec cookie goes along
    assert "access-control-allow-origin" not in other.headers


async def test_an_auditors_browser_may_decode_by_a_cookie_scoped_to_the_decoder(in_process_gateway, tmp_path):
    gw = in_process_gateway
    key = (tmp_path / "keys" / "data.key").read_text().strip()
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"name": "李明"}])
    [sealed] = await EncryptionCodec(key).encode([plain])
    body = {"payloads": [as_json(sealed)]}
    opened = gw.http.post("/api/v1/codec/session", headers=gw.login("auditor"))
    cookie = opened.headers["set-cookie"]
    assert opened.status_code == 204 and cookie.startswith("ov_codec=")
    assert all(part in cookie for part in ("HttpOnly", "Path=/api/v1/codec", "SameSite=strict", "Max-Age="))
    token = opened.cookies["ov_codec"]
    gw.http.cookies.clear()
    by_cookie = gw.http.post("/api/v1/codec/decode", json=body, cookies={"ov_codec": token})
    assert by_cookie.status_code == 200 and base64.b64decode(by_cookie.json()["payloads"][0]["data"]) == plain.data
    # the cookie opens the decoder and nothing else; a forged one, or one of another role, opens nothing
    assert gw.http.get("/api/v1/cases", cookies={"ov_codec": token}).status_code == 401
    assert gw.http.post("/api/v1/codec/decode", json=body, cookies={"ov_codec": "forged"}).status_code == 401
    clerk = gw.login("clerk-tax")["Authorization"].removeprefix("Bearer ")
    assert gw.http.post("/api/v1/codec/decode", json=body, cookies={"ov_codec": clerk}).status_code == 403
    assert gw.http.post("/api/v1/codec/session", headers=gw.login("admin")).status_code == 403
    closed = gw.http.delete("/api/v1/codec/session", headers=gw.login("auditor"))
    assert closed.status_code == 204 and 'ov_codec=""' in closed.headers["set-cookie"]
