"""Checks shared by the tests of mlrail's self-contained HTML pages (the Kubeflow UI's iframe)."""

from __future__ import annotations

#: What would make a page load something from elsewhere.
EXTERNAL = ("http://", "https://", "<script", "<link", "<img", "<iframe", "url(", "@import")


def assert_self_contained(page: str) -> None:
    """No script, stylesheet, image, frame or URL that the page would fetch."""
    lowered = page.lower()
    found = [e for e in EXTERNAL if e in lowered]
    assert not found, f"the page refers outside itself: {found}"
