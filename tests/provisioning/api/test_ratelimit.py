"""The API rate limit (provisioning.api.ratelimit): per token, 429 with Retry-After, and
not enforced (but logged) while Redis is down."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.provisioning.api.api_helpers import Api, token_for

pytestmark = pytest.mark.django_db


def test_sixth_request_over_a_limit_of_five_is_429_with_retry_after(project, owner, redis_conn):
    api = Api(token_for(owner))
    with override_settings(API_RATE_LIMIT=5):
        statuses = [api.get("/projects").status_code for _ in range(6)]
        response = api.get("/projects")
    assert statuses == [200] * 5 + [429]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Rate limit" in response.json()["detail"]


def test_rate_limit_is_per_token(project, owner, redis_conn):
    first, second = Api(token_for(owner)), Api(token_for(owner))
    with override_settings(API_RATE_LIMIT=2):
        for _ in range(3):
            first.get("/projects")
        assert first.get("/projects").status_code == 429
        assert second.get("/projects").status_code == 200


def test_api_keeps_working_when_redis_is_down(project, owner, tmp_path, caplog):
    api = Api(token_for(owner))
    dead = {"default": {"URL": f"unix://{tmp_path}/no-redis.sock?db=0"}}
    with override_settings(RQ_QUEUES=dead, API_RATE_LIMIT=1):
        statuses = [api.get("/projects").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert "rate limit not enforced: Redis unavailable" in caplog.text
