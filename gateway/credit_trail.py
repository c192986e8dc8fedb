"""A loan's trail back to its consent, checked from evidence bundles alone (no network): each bundle
is verified on its own first (``chain.audit.case.verify_case``); this checks what links them.

(1) the consent check names a consent, and the grant's trail records that consent for the same
company; (2) the grant was anchored before the check; (3) every read is of that company, by the
bank the check allowed, of data the consent covers, made under that consent, parented by the check;
(4) no read was anchored after the consent's revocation, nor made after its last day.
"""

from __future__ import annotations

from typing import Any

from chain.audit.case import Finding
from chain.audit.evidence import EvidenceBundle, EvidenceItem

READ_PREFIX = "read_"


def _completed(bundle: EvidenceBundle, step: str) -> EvidenceItem | None:
    for item in bundle.handoffs:
        if item.handoff.record.step == step and item.handoff.record.outcome == "completed":
            return item
    return None


def _at(item: EvidenceItem) -> tuple[int, int]:
    return (item.anchor.block_number, item.anchor.log_index) if item.anchor else (2**63, 0)


def consent_of(loan: EvidenceBundle) -> str | None:
    check = _completed(loan, "consent_check")
    return None if check is None else str(check.handoff.record.outputs.get("consent_id"))


def link_findings(
    loan: EvidenceBundle, grant: EvidenceBundle | None, revocation: EvidenceBundle | None = None
) -> list[Finding]:
    """What does not link ``loan`` to the consent its check names (``grant``: that consent's trail;
    None when the check refused, so no consent is named)."""
    out: list[Finding] = []

    def finding(check: str, message: str, item: EvidenceItem | None = None) -> None:
        record = item.handoff.record if item else None
        out.append(Finding(check=check, message=message, handoff=item.handoff.hash if item else None,
                           step=record.step if record else None))  # fmt: skip

    check = _completed(loan, "consent_check")
    reads = [i for i in loan.handoffs if i.handoff.record.step.startswith(READ_PREFIX)]
    if check is None:
        for item in reads:
            if item.handoff.record.outcome == "completed":
                finding("consent", "a read completed although no consent check did", item)
        return out
    checked: dict[str, Any] = check.handoff.record.outputs
    granted_item = None if grant is None else _completed(grant, "consent_grant")
    if granted_item is None:
        finding("consent", f"no trail records the consent {checked.get('consent_id')} the check names", check)
        return out
    granted: dict[str, Any] = granted_item.handoff.record.outputs
    # (1) the same consent, for the same company
    if granted.get("consent_id") != checked.get("consent_id") or granted.get("uscc") != checked.get("uscc"):
        finding("consent", f"the check names consent {checked.get('consent_id')} of {checked.get('uscc')}, the grant "
                f"records {granted.get('consent_id')} of {granted.get('uscc')}", check)  # fmt: skip
    if checked.get("bank") not in granted.get("banks", []):
        finding("consent", f"the consent does not name {checked.get('bank')}", check)
    # (2) granted before it was checked
    if _at(granted_item) >= _at(check):
        finding("order", "the consent check was anchored before the consent it names", check)
    ended = None
    if revocation is not None and (revoked := _completed(revocation, "consent_revoke")) is not None:
        if revoked.handoff.record.outputs.get("consent_id") == granted.get("consent_id"):
            ended = revoked
    for item in reads:
        record = item.handoff.record
        if record.outcome != "completed":
            continue
        read: dict[str, Any] = record.outputs
        # (3) what was read, by whom, under which consent
        if read.get("consent_id") != granted.get("consent_id") or read.get("uscc") != granted.get("uscc"):
            finding("consent", f"read under consent {read.get('consent_id')} of {read.get('uscc')}", item)
        if read.get("read_by") != checked.get("bank"):
            finding("consent", f"read by {read.get('read_by')}, not the bank checked ({checked.get('bank')})", item)
        if read.get("category") not in granted.get("data", []):
            finding("consent", f"{read.get('category')} is not data the consent covers", item)
        if check.handoff.hash not in record.parents:
            finding("consent", "the read does not follow the consent check", item)
        # (4) not after the consent ended
        if ended is not None and _at(item) > _at(ended):
            finding("ended", f"read anchored after the consent's revocation (block {ended.anchor.block_number})", item)
        if record.time[:10] > str(granted.get("expires_on")):
            finding(
                "ended", f"read on {record.time[:10]}, after the consent's last day {granted.get('expires_on')}", item
            )
    return out
