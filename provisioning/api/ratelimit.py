"""Per-token request budgets for the REST API, counted in Redis (docs/security.md#s24).

A fixed window that opens at a token's first request: SET NX EX creates the counter with
its lifetime, INCR counts, TTL says when the window closes, all in one MULTI/EXEC, so
a crash between the steps can never leave a counter that never expires. Every web
process shares the counters, so the budget holds however many processes serve the API.

If Redis cannot be reached the request is allowed (fail open) and a warning logged:
the API keeps working, as pages do, while the queue is down (docs/security.md#s19).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import django_rq
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
KEY_PREFIX = "bmadweb:api-rate:"


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until the window closes (0 when allowed)


def rate_limit_hit(*, key: str, limit: int, window: int = WINDOW_SECONDS) -> RateDecision:
    """Count one request against `key`; refuse it once `limit` requests fell in the window."""
    redis_key = KEY_PREFIX + key
    try:
        conn = django_rq.get_connection("default")
        pipe = conn.pipeline(transaction=True)
        pipe.set(redis_key, 0, ex=window, nx=True)
        pipe.incr(redis_key)
        pipe.ttl(redis_key)
        _, count, ttl = pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("API rate limit not enforced: Redis unavailable (%s)", type(exc).__name__)
        return RateDecision(True, limit, 0)
    count, ttl = int(count), int(ttl)
    if count <= limit:
        return RateDecision(True, limit - count, 0)
    return RateDecision(False, 0, max(1, ttl if ttl > 0 else window))
