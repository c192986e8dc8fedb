"""Who may see a case and how much of its application: the need-to-know rule and the read log.

A clerk sees a case only while their agency holds a step of it (a step of the case's flow that
applies to the application as it stands: a bank clerk has no business with a case that opened no
bank account), and of its application only the fields those steps declare they read (``reads``
in the flow definition the case was opened under). The applicant sees all of their own.
Auditors verify trails and admins operate the system: neither reads personal data. Every read is
logged (``ApplicationRead``) before the data leaves, and the applicant can list the log.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session, select

from gateway.store import ApplicationRead, Case, User, Vault
from workflows.flows import FlowDef, StepDef

UNDECIDED = {"waiting", "skipped"}  # step states that do not show an optional step ran


def steps_held(case: Case, agency: str | None, vault: Vault, session: Session) -> list[StepDef]:
    """The steps ``agency`` holds on ``case``. An optional step counts when the application asks
    for it; once the application is erased, when the recorded status shows it ran."""
    mine = [s for s in FlowDef.model_validate(case.flow_definition).steps if agency and s.agency == agency]
    if all(s.when is None for s in mine):
        return mine  # nothing to decrypt
    application = vault.open(session, case)
    if application is not None:
        return [s for s in mine if s.applies(application)]
    ran = {st["step"] for st in (case.snapshot or {}).get("steps", []) if st.get("state") not in UNDECIDED}
    return [s for s in mine if s.when is None or s.id in ran]


def may_see(case: Case, user: User, vault: Vault, session: Session) -> bool:
    """Applicants see their own cases, clerks those their agency holds a step of; auditors and
    admins see every case (and no application)."""
    if user.role == "applicant":
        return case.applicant_id == user.id
    if user.role == "clerk":
        return bool(steps_held(case, user.agency, vault, session))
    return user.role in ("auditor", "admin")


def visible_cases(session: Session, user: User, vault: Vault, limit: int = 500) -> Iterator[Case]:
    """The newest cases ``user`` may see, at most ``limit``."""
    query = select(Case).order_by(Case.created_at.desc())
    if user.role == "applicant":
        query = query.where(Case.applicant_id == user.id)
    found, page, offset = 0, 200, 0
    while found < limit:
        cases = session.exec(query.offset(offset).limit(page)).all()  # a page at a time: may_see reads too
        for case in cases:
            if found < limit and may_see(case, user, vault, session):
                found += 1
                yield case
        if len(cases) < page:
            return
        offset += page


def fields_for(steps: list[StepDef]) -> list[str]:
    """The union of what ``steps`` read, a field dropped when its section is read whole."""
    paths = sorted({p for s in steps for p in (s.reads or [])})
    return [p for p in paths if not any(p.startswith(q + ".") for q in paths)]


def log_read(session: Session, case: Case, user: User, purpose: str | None, fields: list[str]) -> None:
    """Record the read, committed before the data is returned: no log, no data."""
    session.add(
        ApplicationRead(
            case_id=case.id,
            user_id=user.id,
            username=user.username,
            role=user.role,
            agency=user.agency,
            purpose=purpose,
            fields=fields,
        )
    )
    session.commit()


def reads_of(session: Session, case: Case) -> list[ApplicationRead]:
    query = select(ApplicationRead).where(ApplicationRead.case_id == case.id)
    return list(session.exec(query.order_by(ApplicationRead.read_at, ApplicationRead.id)).all())
