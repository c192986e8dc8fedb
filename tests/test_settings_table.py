"""The README's settings table is the truth: it names every setting the code reads (each field of
gateway.settings.Settings, and each other ONEVISIT_ variable in the source), every variable that
docker-compose.yml passes, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = {"ONEVISIT_START_AFTER", "ONEVISIT_AGENCY", "ONEVISIT_AGENCY_STATE", "ONEVISIT_VERSION"}


def documented() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `ONEVISIT_")]
    names: set[str] = set()
    for row in rows:
        cell = row.split("|")[1]
        full = re.findall(r"`(ONEVISIT_[A-Z_]+)`", cell)
        names |= set(full)
        for suffix in re.findall(r"`(_[A-Z_]+)`", cell):  # `_CERT` after `ONEVISIT_TEMPORAL_TLS_CA`
            names.add(full[0].rsplit("_", 1)[0] + suffix)
    return names


def in_source() -> set[str]:
    names: set[str] = set()
    for folder in ("gateway", "agencies", "chain", "workflows", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"ONEVISIT_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    return names - INTERNAL


def test_every_setting_field_is_in_the_table():
    fields = {f"ONEVISIT_{name.upper()}" for name in Settings.model_fields}
    assert fields <= documented(), fields - documented()


def test_every_variable_the_source_reads_is_in_the_table_and_nothing_else():
    fields = {f"ONEVISIT_{name.upper()}" for name in Settings.model_fields}
    assert in_source() - fields <= documented(), (in_source() - fields) - documented()
    assert documented() <= fields | in_source(), documented() - fields - in_source()


def test_every_variable_compose_passes_is_in_the_table():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    passed = {
        key
        for service in compose["services"].values()
        for key in (service.get("environment") or {})
        if key.startswith("ONEVISIT_")
    }
    assert passed - INTERNAL <= documented(), passed - documented()
