"""Shared route dependencies: the app's long-lived clients, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from temporalio.client import Client

from gateway.auth import CurrentUser, SessionDep
from gateway.store import Case


def get_temporal(request: Request) -> Client:
    client = request.app.state.temporal
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the workflow engine is not connected yet")
    return client


TemporalDep = Annotated[Client, Depends(get_temporal)]


def get_case(case_id: str, session: SessionDep, user: CurrentUser) -> Case:
    """The case, if this user may see it: applicants their own, clerks/auditors/admins any."""
    case = session.get(Case, case_id)
    if case is None or (user.role == "applicant" and case.applicant_id != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case


CaseDep = Annotated[Case, Depends(get_case)]
