"""A token bucket per API key, in the API process (one uvicorn worker: docs/api.md).

Each key holds up to `rate` tokens (one second's worth, at least 1) and regains `rate` per
second; a request takes one, and one finding the bucket empty is refused with the seconds until
the next token (the 429's Retry-After).
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass

DEFAULT_RATE_PER_SECOND = 100.0


def default_rate_per_second() -> float:
    """OMNI_API_RATE_LIMIT: requests per second per key unless the key has its own limit."""
    return float(os.environ.get("OMNI_API_RATE_LIMIT") or DEFAULT_RATE_PER_SECOND)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self) -> None:
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, rate: float) -> float:
        """0 when the request may go; else the seconds until a token is back."""
        capacity = max(1.0, rate)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(capacity, now))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
