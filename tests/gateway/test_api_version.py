"""The REST API lives under ``/api/v1/``; the paths from before the prefix answer 308 to it (the
method, body and query kept), and the OpenAPI document names only the versioned ones."""

from __future__ import annotations

from tests.fixtures.stack import application


def test_every_api_path_in_the_openapi_is_versioned(in_process_gateway):
    document = in_process_gateway.http.get("/openapi.json").json()
    assert sorted(p for p in document["paths"] if not p.startswith("/api/v1/")) == ["/healthz"]
    schemes = document["components"]["securitySchemes"]
    assert [s["flows"]["password"]["tokenUrl"] for s in schemes.values() if s["type"] == "oauth2"] == [
        "/api/v1/auth/token"
    ]


def test_an_old_path_answers_308_to_its_versioned_one_with_the_query(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    moved = gw.http.get(f"/api/cases/{case_id}/application?purpose=checking", follow_redirects=False)
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/api/v1/cases/{case_id}/application?purpose=checking"
    followed = gw.http.get(f"/api/cases/{case_id}", headers=gw.login("applicant"))
    assert followed.status_code == 200 and followed.json()["case_id"] == case_id


def test_a_post_to_an_old_path_is_redirected_with_its_method_and_body(in_process_gateway):
    gw = in_process_gateway
    moved = gw.http.post("/api/cases", json=application(), headers=gw.login("applicant"), follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/api/v1/cases")
    assert gw.http.get("/api/v1/cases", headers=gw.login("applicant")).json() == []  # nothing made by the 308
    made = gw.http.post("/api/cases", json=application(), headers=gw.login("applicant"))
    assert made.status_code == 201 and made.json()["case_id"].startswith("BR-")
    token = gw.http.post("/api/auth/token", data={"username": "auditor", "password": "auditor"})
    assert token.status_code == 200 and token.json()["role"] == "auditor"


def test_unknown_versioned_paths_are_404_not_redirected(in_process_gateway):
    for path in ("/api/v1/nothing-here", "/api/v1", "/api/v2/cases", "/api/v10", "/docs", "/redoc"):
        assert in_process_gateway.http.get(path, follow_redirects=False).status_code == 404, path
