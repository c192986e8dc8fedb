"""Approval policies as data: instant approval by rule, or a clerk of the owning agency.

A policy in mode ``rules`` approves instantly when every rule holds for the application and
sends the step to a clerk otherwise, with the failed rules' reasons. Evaluation is pure and
deterministic (it runs inside the workflow); ``version`` names the exact rule set so an auditor
can re-run the decision.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chain.handoff import definition_hash

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains_none", "max_items"]
MISSING = object()


def lookup(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (``company.registered_capital_cny``), or MISSING."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    op: Op
    value: Any
    reason: str = Field(description="why a clerk must look when the rule does not hold")

    def holds(self, application: dict[str, Any]) -> bool:
        v = lookup(application, self.field)
        if v is MISSING:
            return False
        match self.op:
            case "eq":
                return v == self.value
            case "ne":
                return v != self.value
            case "lt":
                return v < self.value
            case "le":
                return v <= self.value
            case "gt":
                return v > self.value
            case "ge":
                return v >= self.value
            case "in":
                return v in self.value
            case "not_in":
                return v not in self.value
            case "contains_none":
                return not any(word in str(v) for word in self.value)
            case "max_items":
                return len(v) <= self.value
        raise AssertionError(self.op)


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["instant", "clerk", "rules"] = "instant"
    rules: list[Rule] = Field(default_factory=list)

    def version(self) -> str:
        return definition_hash(self.model_dump(mode="json"))

    def review_reasons(self, application: dict[str, Any]) -> list[str]:
        """Empty when the step is approved instantly; otherwise why a clerk must decide."""
        if self.mode == "instant":
            return []
        if self.mode == "clerk":
            return ["this step is always decided by a clerk"]
        return [r.reason for r in self.rules if not r.holds(application)]
