"""The electronic health card (电子健康卡) at the agencies: public security checks the resident's
identity, the health commission links the health archive, issues one card per resident, checks a
card's QR code at every visit and revokes a lost card; a hospital of the network records what it
read. Each of these is a step of a flow (``workflows/definitions/health_card*.json``), so every
issue, visit, refusal and revocation is a signed, anchored handoff.

Codes a hospital scans:
- the static code on the card, ``EHC:<card number>``: needs the card's PIN as a second factor (five
  wrong PINs lock the card for 15 minutes);
- a dynamic code, ``EHD:<card>~<key>~<nonce>~<expiry>~<signature>``, made for one visit: the
  platform's gateway signs the card number, a nonce and an expiry (``QR_UPDATE``); the health
  commission checks the signature against the gateway keys it trusts, the expiry, and that the
  nonce was never used; a replay is refused, and the refusal is a handoff like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError
from stdnum import luhn

from agencies.backend import Refused, Unavailable, parent_output
from agencies.directory import HOSPITALS
from agencies.identifiers import IdentifierError, refusal_without_the_number, validate_resident_id
from workflows.authority import Authority, AuthorityError, Keyring
from workflows.messages import StepInput

if TYPE_CHECKING:
    from agencies.simulated import ActionStore

QR_UPDATE = "health-card-qr"  # what a dynamic code's gateway signature is over (with the card number)
STATIC_PREFIX, DYNAMIC_PREFIX = "EHC:", "EHD:"
CARD_PREFIX = "3701"  # Jinan's cards: 4 + 13 random digits + a Luhn check digit, 18 digits
PIN_TRIES, PIN_LOCK = 5, timedelta(minutes=15)
CHANNELS = ("window", "kiosk", "doctor", "app")
SHARED = ("identity", "emergency_contact", "allergies")  # what a resident may let hospitals read

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS archives (id_number TEXT PRIMARY KEY, archive_number TEXT UNIQUE, created_on TEXT)",
    "CREATE TABLE IF NOT EXISTS cards (card_number TEXT PRIMARY KEY, id_number TEXT, archive_number TEXT, "
    "pin_hash TEXT, share TEXT, issued_on TEXT, status TEXT, revoked_on TEXT, failed_pins INTEGER DEFAULT 0, "
    "locked_until TEXT)",
    "CREATE UNIQUE INDEX IF NOT EXISTS one_valid_card ON cards (id_number) WHERE status = 'valid'",
    "CREATE TABLE IF NOT EXISTS used_codes (nonce TEXT PRIMARY KEY, card_number TEXT, case_id TEXT, used_at TEXT)",
)


class QrClaim(BaseModel):
    """What a dynamic code's gateway signature covers, besides the card number (its ``case_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    card_number: str
    authority: Authority | None = None


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>``: the only form a PIN is kept in."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
        candidate = hash_pin(pin, bytes.fromhex(salt))
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(candidate, stored)


def dynamic_code(claim: QrClaim) -> str:
    """``EHD:card~key id~nonce~expires~signature``: short, so the QR code stays easy to scan."""
    a = claim.authority
    parts = [claim.card_number, *((a.key_id, a.nonce, a.expires, a.signature) if a else ("", "", "", ""))]
    return DYNAMIC_PREFIX + "~".join(parts)


def read_dynamic_code(code: str) -> QrClaim:
    parts = code[len(DYNAMIC_PREFIX) :].split("~")
    if len(parts) != 5 or len(code) > 1000:
        raise Refused("the dynamic code is malformed", "QrMalformed")
    card, key_id, nonce, expires, signature = parts
    try:
        authority = Authority(key_id=key_id, nonce=nonce, expires=expires, signature=signature) if key_id else None
        return QrClaim(card_number=card, authority=authority)
    except ValidationError as exc:
        raise Refused("the dynamic code is malformed", "QrMalformed") from exc


def random_card_number() -> str:
    body = CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(13))
    return body + luhn.calc_check_digit(body)


class HealthServices:
    """The health card's handlers, on an agency's simulated back-end (its store, its clock)."""

    def __init__(self, store: ActionStore, agency: str, gateway_keys: Keyring | None):
        self.store, self.agency, self.gateway_keys = store, agency, gateway_keys
        for statement in SCHEMA:
            store.db.execute(statement)

    def handlers(self) -> dict[str, Any]:
        return {
            "resident_identity": self.resident_identity,
            "health_archive": self.health_archive,
            "card_issue": self.card_issue,
            "card_check": self.card_check,
            "revoke_card": self.revoke_card,
            "reissue_card": self.reissue_card,
            **{step: self.hospital_read for step in HOSPITALS.values()},
        }

    # public security -------------------------------------------------------------------------
    def resident_identity(self, request: StepInput) -> dict[str, Any]:
        resident = request.application.get("resident") or {}
        try:
            validate_resident_id(str(resident.get("id_number", "")))
        except IdentifierError as exc:
            raise Refused(f"resident.id_number: {refusal_without_the_number(exc)}", "ResidentIdInvalid") from exc
        if not 2 <= len(str(resident.get("name", "")).strip()) <= 30:
            raise Refused("resident.name: 2 to 30 characters", "NameInvalid")
        return {"identity_verified": True}

    # health commission -----------------------------------------------------------------------
    def health_archive(self, request: StepInput) -> dict[str, Any]:
        """The resident's archive, found by ID number or opened now (one per resident)."""
        id_number = request.application["resident"]["id_number"]
        db = self.store.db
        row = db.execute("SELECT archive_number FROM archives WHERE id_number=?", (id_number,)).fetchone()
        if row:
            return {"archive_number": row[0], "archive_opened": False}
        number = self.store.issue_unique(
            "archive", request.case_id, lambda: id_number[:6] + "".join(secrets.choice("0123456789") for _ in range(11))
        )
        db.execute("INSERT INTO archives VALUES (?,?,?)", (id_number, number, _today()))
        return {"archive_number": number, "archive_opened": True}

    def card_issue(self, request: StepInput) -> dict[str, Any]:
        """One valid card per resident: a second application gets the card already issued."""
        app = request.application
        id_number = app["resident"]["id_number"]
        existing = self.store.db.execute(
            "SELECT card_number, issued_on FROM cards WHERE id_number=? AND status='valid'", (id_number,)
        ).fetchone()
        if existing:
            return {"card_number": existing[0], "issued_on": existing[1], "existing_card": True}
        pin_hash = str(app.get("pin_hash") or "")
        if not pin_hash.startswith("scrypt$"):
            raise Refused("pin_hash: the card's PIN is missing", "PinMissing")
        archive = parent_output(request, "archive_number")
        return self._issue(request.case_id, id_number, archive, pin_hash, app.get("share"))

    def _issue(self, case_id: str, id_number: str, archive: str, pin_hash: str, share: Any) -> dict[str, Any]:
        share = [s for s in (share or ["identity"]) if s in SHARED]
        number = self.store.issue_unique("health_card", case_id, random_card_number)
        self.store.db.execute(
            "INSERT INTO cards (card_number, id_number, archive_number, pin_hash, share, issued_on, status) "
            "VALUES (?,?,?,?,?,?,'valid')",
            (number, id_number, archive, pin_hash, json.dumps(share), _today()),
        )
        return {"card_number": number, "issued_on": _today(), "existing_card": False, "shared": share}

    def card_check(self, request: StepInput) -> dict[str, Any]:
        """A hospital's scan: the card must be valid, and the code either the static one with the
        right PIN or a dynamic one signed by the platform, unexpired and never used before."""
        app = request.application
        code = str(app.get("code") or "").strip()
        now = datetime.now(UTC)
        if code.startswith(DYNAMIC_PREFIX):
            claim = read_dynamic_code(code)
            card = self._card(claim.card_number)
            self._check_signature(claim, now)
            self._valid(card)
            used = self.store.db.execute(
                "SELECT used_at FROM used_codes WHERE nonce=?", (claim.authority.nonce,)
            ).fetchone()
            if used:
                raise Refused(f"this dynamic code was already used at {used[0]}: a replay", "QrReplayed")
            self.store.db.execute(
                "INSERT INTO used_codes VALUES (?,?,?,?)",
                (claim.authority.nonce, card["card_number"], request.case_id, now.isoformat(timespec="seconds")),
            )
            factor = "dynamic_code"
        elif code.startswith(STATIC_PREFIX):
            card = self._card(code[len(STATIC_PREFIX) :])
            self._valid(card)
            self._check_pin(card, str(app.get("pin") or ""), now)
            factor = "static_code_and_pin"
        else:
            raise Refused(f"not a health card code (it starts {STATIC_PREFIX} or {DYNAMIC_PREFIX})", "QrMalformed")
        return {
            "card_number": card["card_number"],
            "card_status": "valid",
            "factor": factor,
            "shared": json.loads(card["share"]),
            "hospital": str(app.get("hospital", "")),
            "channel": str(app.get("channel", "")),
        }

    def _card(self, number: str) -> dict[str, Any]:
        cur = self.store.db.execute("SELECT * FROM cards WHERE card_number=?", (number[:32],))
        row = cur.fetchone()
        if row is None:
            raise Refused("no such health card", "CardUnknown")
        return dict(zip([c[0] for c in cur.description], row, strict=True))

    @staticmethod
    def _valid(card: dict[str, Any]) -> None:
        if card["status"] != "valid":
            raise Refused(
                f"the card was {card['status']} on {card['revoked_on']}: its codes are refused", "CardRevoked"
            )

    def _check_signature(self, claim: QrClaim, now: datetime) -> None:
        if self.gateway_keys is None:  # the operator's to mend: the step waits meanwhile
            raise Unavailable("the health commission trusts no gateway key (ONEVISIT_GATEWAY_KEYS)")
        try:
            self.gateway_keys.check(claim.card_number, QR_UPDATE, claim, now, used=set())
        except AuthorityError as exc:
            kind = "QrExpired" if "expired" in str(exc) else "QrForged"
            raise Refused(f"the dynamic code is refused: {exc}", kind) from exc

    def _check_pin(self, card: dict[str, Any], pin: str, now: datetime) -> None:
        db, number = self.store.db, card["card_number"]
        if card["locked_until"] and datetime.fromisoformat(card["locked_until"]) > now:
            raise Refused(f"too many wrong PINs: the card is locked until {card['locked_until']}", "PinLocked")
        if not pin:
            raise Refused("the card's static code needs its PIN", "PinRequired")
        if pin_matches(pin, card["pin_hash"]):
            db.execute("UPDATE cards SET failed_pins=0, locked_until=NULL WHERE card_number=?", (number,))
            return
        failed = card["failed_pins"] + 1
        locked = (now + PIN_LOCK).isoformat(timespec="seconds") if failed >= PIN_TRIES else None
        # kept even though the step is refused: a wrong guess counts (outside the step's transaction)
        self.store.after_refusal(
            "UPDATE cards SET failed_pins=?, locked_until=? WHERE card_number=?",
            (0 if locked else failed, locked, number),
        )
        raise Refused("wrong PIN" + (f": the card is locked until {locked}" if locked else ""), "PinWrong")

    def revoke_card(self, request: StepInput) -> dict[str, Any]:
        """A lost card: only its holder (by ID number) may revoke it; its codes are refused from now."""
        app = request.application
        card = self._card(str(app.get("card_number", "")))
        if not hmac.compare_digest(card["id_number"], str((app.get("resident") or {}).get("id_number", ""))):
            raise Refused("only the card's holder may revoke it", "NotCardHolder")
        if card["status"] != "valid":
            raise Refused(f"the card was already {card['status']} on {card['revoked_on']}", "CardRevoked")
        self.store.db.execute(
            "UPDATE cards SET status='revoked', revoked_on=? WHERE card_number=?", (_today(), card["card_number"])
        )
        return {"revoked_card": card["card_number"], "card_status": "revoked", "revoked_on": _today()}

    def reissue_card(self, request: StepInput) -> dict[str, Any]:
        """A new card for the holder of the card just revoked: same archive, PIN and sharing."""
        old = self._card(parent_output(request, "revoked_card"))
        new = self._issue(
            request.case_id, old["id_number"], old["archive_number"], old["pin_hash"], json.loads(old["share"])
        )
        return {**new, "replaces": old["card_number"]}

    # hospitals -------------------------------------------------------------------------------
    def hospital_read(self, request: StepInput) -> dict[str, Any]:
        """The hospital's own record of the visit: which card, by which channel, what it read."""
        channel = str(request.application.get("channel", ""))
        if channel not in CHANNELS:
            raise Refused(f"channel: one of {', '.join(CHANNELS)}", "ChannelInvalid")
        return {
            "hospital": self.agency,
            "card_number": parent_output(request, "card_number"),
            "channel": channel,
            "read": parent_output(request, "shared"),
            "read_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
