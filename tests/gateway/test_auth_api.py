"""Signing in and asking who one is, in-process."""

from __future__ import annotations


def test_me_names_the_signed_in_user_and_a_missing_token_is_401(in_process_gateway):
    gw = in_process_gateway
    assert gw.http.get("/api/v1/auth/me", headers=gw.login("clerk-tax")).json() == {
        "username": "clerk-tax",
        "role": "clerk",
        "agency": "tax",
    }
    assert gw.http.get("/api/v1/auth/me", headers=gw.login("applicant")).json() == {
        "username": "applicant",
        "role": "applicant",
        "agency": None,
    }
    assert gw.http.get("/api/v1/auth/me").status_code == 401
    assert gw.http.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
