"""Raw-HTTP helpers: what a client sees of an error, in Bandwidth's shape."""

from __future__ import annotations

import httpx

from tests.support.server import ACCOUNT_ID


def calls_path(account_id: str = ACCOUNT_ID) -> str:
    return f"/api/v2/accounts/{account_id}/calls"


def assert_error(
    response: httpx.Response, status: int, error_type: str, description: str | None = None
) -> dict[str, object]:
    """The response is Bandwidth's error body: exactly type, description and id, as JSON."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "description", "id"}, body
    assert body["type"] == error_type
    assert isinstance(body["description"], str) and body["description"]
    if description is not None:
        assert body["description"] == description, body["description"]
    return dict(body)
