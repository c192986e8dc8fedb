"""The API's shapes: what an applicant submits (validated at the edge) and what we return.

Public shapes leave personal data out; table rows are never returned as they are.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    EmailStr,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from agencies.identifiers import JINAN_DIVISIONS, AdultResidentId, ResidentId
from agencies.scope import parse_scope
from gateway.credit_schemas import CreditApplication, CreditConsentApplication
from workflows.messages import StepStatus

Phone = Field(pattern=r"^1[3-9][0-9]{9}$", description="mainland mobile number, 11 ASCII digits")

# Invisible, format (bidi overrides, zero-width joiners…), private-use, surrogate and unassigned
# characters: they hide restricted words, fake uniqueness and reorder what a terminal shows.
REFUSED_CATEGORIES = {"Cf": "format", "Co": "private-use", "Cs": "surrogate", "Cn": "unassigned"}


def _clean(multiline: bool):
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the str validator names the type error
        value = unicodedata.normalize("NFKC", value)
        for ch in value:
            category = unicodedata.category(ch)
            if category == "Cc" and not (multiline and ch in "\n\t"):
                raise ValueError(f"must not contain control characters (U+{ord(ch):04X})")
            if category in REFUSED_CATEGORIES:
                raise ValueError(f"must not contain {REFUSED_CATEGORIES[category]} characters (U+{ord(ch):04X})")
        return value

    return BeforeValidator(check)


Text = Annotated[str, _clean(multiline=False)]  # NFKC-normalised; no control or invisible characters
LongText = Annotated[str, _clean(multiline=True)]  # the same, but line breaks and tabs are allowed


def _purpose(value: str) -> str:
    value = value.strip()
    if not 2 <= len(value) <= 200:
        raise ValueError(f"must be 2 to 200 characters once trimmed, not {len(value)}")
    return value


Purpose = Annotated[str, _clean(multiline=False), AfterValidator(_purpose)]  # why someone reads personal data


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Person(Strict):
    """The legal representative: a resident ID of someone at least 18 years old."""

    name: Text = Field(min_length=2, max_length=30)
    id_number: AdultResidentId
    phone: str = Phone


class Shareholder(Strict):
    name: Text = Field(min_length=2, max_length=60)
    id_number: ResidentId
    share_percent: Decimal = Field(gt=0, le=100, decimal_places=2)


class Company(Strict):
    name: Text = Field(min_length=4, max_length=60, description="division + trade name + industry + form")
    division: str = Field(description="6-digit administrative division in Jinan, e.g. 370102")
    registered_capital_cny: int = Field(gt=0, le=10**12)
    business_scope: LongText = Field(min_length=2, max_length=2000)
    address: Text = Field(min_length=4, max_length=200)

    @field_validator("business_scope")
    @classmethod
    def _from_catalogue(cls, v: str) -> str:
        parse_scope(v)  # ScopeRefused is a ValueError naming the item and the rule
        return v

    @field_validator("division")
    @classmethod
    def _in_jinan(cls, v: str) -> str:
        if v not in JINAN_DIVISIONS:
            raise ValueError(f"division must be one of Jinan's districts: {', '.join(sorted(JINAN_DIVISIONS))}")
        return v


class Contact(Strict):
    name: Text = Field(min_length=2, max_length=30)
    phone: str = Phone
    email: EmailStr | None = None


class Options(Strict):
    bank_account: bool = Field(False, description="open the basic bank account in the same visit")
    housing_fund: bool = Field(False, description="register for the housing provident fund in the same visit")


class RegistrationApplication(Strict):
    flow: Literal["business_registration"] = "business_registration"
    company: Company
    legal_representative: Person
    shareholders: list[Shareholder] = Field(min_length=1, max_length=50)
    contact: Contact
    employees: int = Field(0, ge=0, le=100_000)
    expected_annual_sales_cny: int = Field(
        0, ge=0, le=10**13, description="declared for tax: up to 5,000,000 a small-scale taxpayer, above it general"
    )
    options: Options = Options()

    @model_validator(mode="after")
    def _shares_add_up(self) -> RegistrationApplication:
        total = sum(s.share_percent for s in self.shareholders)
        if total != 100:
            raise ValueError(f"shareholders' share_percent must add up to 100, not {total}")
        return self

    def title(self) -> str:
        return self.company.name

    def stored(self) -> dict[str, Any]:
        """What is kept (sealed in the vault) and sent to the engine."""
        return self.model_dump(mode="json")


class Resident(Strict):
    name: Text = Field(min_length=2, max_length=30)
    id_number: ResidentId
    phone: str = Phone


class EmergencyContact(Strict):
    name: Text = Field(min_length=2, max_length=30)
    phone: str = Phone


def _pin(value: str) -> str:
    if len(set(value)) == 1 or value in "0123456789" or value in "9876543210":
        raise ValueError("choose a PIN that is not one digit repeated or a run of digits (123456)")
    return value


class HealthCardApplication(Strict):
    """A resident's electronic health card: one per resident, accepted by every hospital of the network."""

    flow: Literal["health_card"]
    resident: Resident
    pin: Annotated[
        str, Field(pattern=r"^[0-9]{6}$", description="6 digits: the static code's second factor"), AfterValidator(_pin)
    ]
    share: list[Literal["identity", "emergency_contact", "allergies"]] = Field(
        default_factory=lambda: ["identity"],
        min_length=1,
        max_length=3,
        description="what a hospital reading the card may see (identity always)",
    )
    emergency_contact: EmergencyContact | None = None
    allergies: list[Annotated[Text, Field(min_length=1, max_length=60)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _identity_shared(self) -> HealthCardApplication:
        if "identity" not in self.share:
            raise ValueError("share: a hospital always sees who holds the card: include identity")
        if len(set(self.share)) != len(self.share):
            raise ValueError("share: each item once")
        return self

    def title(self) -> str:
        return "电子健康卡 Electronic health card"

    def stored(self) -> dict[str, Any]:
        """The PIN is kept only as a scrypt hash (the health commission checks it at a visit)."""
        from agencies.health import hash_pin

        data = self.model_dump(mode="json", exclude={"pin"})
        return {**data, "pin_hash": hash_pin(self.pin)}


def _flow_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("flow", "business_registration"))
    return str(getattr(value, "flow", "business_registration"))


# the tags of ``Application``: flows one applies for
APPLICATION_FLOWS = ("business_registration", "health_card", "sme_credit_consent", "sme_credit")
Application = Annotated[
    Annotated[RegistrationApplication, Tag("business_registration")]
    | Annotated[HealthCardApplication, Tag("health_card")]
    | Annotated[CreditConsentApplication, Tag("sme_credit_consent")]
    | Annotated[CreditApplication, Tag("sme_credit")],
    Discriminator(
        _flow_of, custom_error_type="flow", custom_error_message=f"flow: one of {', '.join(APPLICATION_FLOWS)}"
    ),
]


class StepPublic(StepStatus):
    """A step as the API shows it: its live status plus the ledger anchor of its latest handoff."""

    anchor: dict[str, Any] | None = None


class ErasureIn(Strict):
    reason: LongText = Field(
        min_length=2, max_length=500, description="why the person's data is erased (kept as a salted commitment)"
    )


class ErasurePublic(BaseModel):
    """An erasure: who, when, and the case whose anchored handoff records it."""

    case_id: str
    erased_by: str
    erased_at: datetime
    record_case: str = Field(
        description="the case_erasure case whose handoff, signed by the big data bureau, records it"
    )
    reason_commitment: str


class CasePublic(BaseModel):
    case_id: str
    flow: str
    flow_version: str
    status: str
    reason: str | None = None
    company_name: str | None = None
    uscc: str | None = None
    result: dict[str, Any]
    steps: list[StepPublic]
    events: list[dict[str, Any]] = []
    closing: str | None = Field(
        None, description="the hash of the case's closing record (signed, anchored, naming every handoff), once ended"
    )
    erased: ErasurePublic | None = Field(None, description="set once the person's data in this case was erased")
    created_at: datetime
    updated_at: datetime


class CaseSummary(BaseModel):
    case_id: str
    flow: str
    status: str
    created_at: datetime


class ApplicationReadPublic(BaseModel):
    """One read of an application: who read it (name, role, agency), why, when, which fields."""

    reader: str
    role: str
    agency: str | None = None
    purpose: str | None = None
    fields: list[str]
    read_at: datetime


class UserPublic(BaseModel):
    username: str
    role: str
    agency: str | None = None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    role: str
    agency: str | None = None


class DecisionIn(Strict):
    decision: Literal["approve", "reject"]
    reason: LongText | None = Field(None, max_length=1000)
    step: str | None = Field(None, description="default: the step your agency holds on this case")

    @model_validator(mode="after")
    def _reject_needs_reason(self) -> DecisionIn:
        if self.decision == "reject" and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        return self


class WithdrawalIn(Strict):
    reason: LongText = Field(min_length=2, max_length=1000)


class QueueEntry(BaseModel):
    case_id: str
    step: str
    title: str
    agency: str
    since: datetime
    deadline: datetime
    escalated: bool
    reasons: list[str]
    company_name: str | None = None


class UpdateOut(BaseModel):
    case_id: str
    detail: str


class Escalation(BaseModel):
    """An open case with a step past its SLA (times as the engine recorded them)."""

    case_id: str
    title: str
    step: str
    state: str
    since: str | None = None
    deadline: str | None = None


class Health(BaseModel):
    status: Literal["ok", "starting"]
    temporal: str
    temporal_ui: str | None = None
    ledger_rpc: str
    chain_id: int
    contracts: dict[str, str]
    problems: list[str]
    workers: dict[str, int] = Field(description="pollers per task queue: the engine's and each agency's")
