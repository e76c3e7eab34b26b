"""A REST API client for the tests: one bearer token per client."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from bmadweb.tokens import token_create

API = "/api/v1"
ALL_SCOPES = ["read", "write", "run"]


def token_for(user, scopes=ALL_SCOPES, days=30) -> str:  # type: ignore[no-untyped-def]
    return token_create(user=user, name="test", scopes=scopes, expires_in_days=days)[1]


class Api:
    """A test client that sends one bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        data = json.dumps(body) if body is not None else None
        return getattr(self.client, method)(
            API + path,
            data=data,
            content_type="application/json",
            headers={**self.headers, **headers},
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.call("get", path, **headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("post", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.call("put", path, body)
