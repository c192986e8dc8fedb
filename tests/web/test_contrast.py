"""The stylesheet's colour pairs meet WCAG 2.1 AA (4.5:1 for text, 3:1 for the focus ring)."""

from __future__ import annotations

import re

import pytest

from gateway.web.routes import STATIC

CSS = (STATIC / "site.css").read_text(encoding="utf-8")
COLOURS = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", CSS)) | {"white": "#ffffff"}


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(COLOURS[a]), luminance(COLOURS[b])), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "panel"),
    ("muted", "bg"),
    ("muted", "panel"),
    ("link", "bg"),
    ("error", "bg"),
    ("white", "brand"),
    ("white", "ok"),
    ("white", "error"),
    ("white", "warn"),
    ("white", "muted"),
    ("text", "focus"),
]


@pytest.mark.parametrize(("fg", "bg"), TEXT_PAIRS, ids=[f"{a}-on-{b}" for a, b in TEXT_PAIRS])
def test_text_is_readable(fg, bg):
    assert contrast(fg, bg) >= 4.5, f"{fg} on {bg}: {contrast(fg, bg):.2f}:1"


def test_the_focus_ring_stands_out_from_the_page_and_the_header():
    assert contrast("focus", "brand") >= 3 and contrast("text", "focus") >= 3
