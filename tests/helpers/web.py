"""Signing in to the web pages as a browser does: the sign-in form's token, then the session cookie."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

__all__ = ["csrf_of", "sign_in"]


def sign_in(client: TestClient, token: str) -> str:
    """Sign *client* in with *token*; return the session's form token (from the page it lands on)."""
    form = client.get("/ui/sign-in")
    assert form.status_code == 200, form.text
    presign = re.search(r'name="presign" value="([^"]+)"', form.text).group(1)
    r = client.post("/ui/sign-in", data={"presign": presign, "token": token, "next": "/ui/access-log"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/ui/access-log")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)
