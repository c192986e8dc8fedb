"""Business scope (经营范围) as the registry reads it: items from the catalogue of standard scope
items (经营范围规范表述目录, an excerpt in ``agencies/data/scope_catalogue.json``), separated by
semicolons, each either general (一般项目) or licensed (许可项目: the licence it names comes first).

``parse_scope`` returns the items or raises ``ScopeRefused`` naming the item and the rule. It judges
the NFKC form (fullwidth brackets and semicolons fold to ASCII) with control and invisible
characters refused, so a zero-width space cannot make an unknown item look like a catalogue one.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE = Path(__file__).parent / "data" / "scope_catalogue.json"
MAX_ITEMS = 50
_SEPARATORS = re.compile(r"[;\n]")  # after NFKC: the fullwidth ；is ;
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn"}


class ScopeRefused(ValueError):
    """A business scope the registry refuses; ``item`` is the offending item (None: the whole scope)."""

    def __init__(self, message: str, item: str | None = None):
        super().__init__(message)
        self.item = item


@dataclass(frozen=True)
class ScopeItem:
    code: str
    name: str
    licensed: bool
    licence: str | None = None


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


@cache
def catalogue() -> dict[str, ScopeItem]:
    """Each item by its NFKC name; a former wording (食品经营) maps to the item that replaced it, and
    one activity of an item that lists several (技术服务 of 技术服务、技术开发…) to that item."""
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    index: dict[str, ScopeItem] = {}
    for entry in data["items"]:
        item = ScopeItem(entry["code"], entry["name"], entry["kind"] == "licensed", entry.get("licence"))
        for name in (entry["name"], *entry.get("former_names", ()), *entry.get("short_forms", ())):
            if _key(name) in index:
                raise ValueError(f"scope catalogue lists {name!r} twice")
            index[_key(name)] = item
    return index


def parse_scope(text: str) -> list[ScopeItem]:
    """The catalogue items of a scope such as ``软件开发；信息技术咨询服务``, in order."""
    text = unicodedata.normalize("NFKC", text)
    raw = [part.strip().rstrip("。.").strip() for part in _SEPARATORS.split(text)]
    parts = [part for part in raw if part]
    if not parts:
        raise ScopeRefused("business scope must list at least one item")
    if len(parts) > MAX_ITEMS:
        raise ScopeRefused(f"business scope may list at most {MAX_ITEMS} items, not {len(parts)}")
    items: list[ScopeItem] = []
    seen: set[str] = set()
    index = catalogue()
    for part in parts:
        for ch in part:
            if unicodedata.category(ch) in _INVISIBLE:
                raise ScopeRefused(
                    f"business scope item {part!r} contains an invisible or control character (U+{ord(ch):04X})", part
                )
        item = index.get(part)
        if item is None:
            near = difflib.get_close_matches(part, list(index), n=3, cutoff=0.5)
            hint = f"; did you mean {'、'.join(near)}?" if near else ""
            raise ScopeRefused(
                f"business scope item {part!r} is not in the catalogue of standard scope items "
                f"(经营范围规范表述目录){hint}",
                part,
            )
        if part in seen:
            raise ScopeRefused(f"business scope item {part!r} is listed twice", part)
        seen.add(part)
        items.append(item)
    return items


def licensed_items(text: str) -> list[ScopeItem]:
    """The items of the scope that need a licence first (许可项目)."""
    return [item for item in parse_scope(text) if item.licensed]
