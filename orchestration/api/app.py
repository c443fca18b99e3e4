"""The availability API: a FastAPI app over the availability marts (docs/contract.md section 8).

Reads go through the BI service login (read-only, `omni_bi`), key checks through the key-checking
login (keys.py), each with its own small async connection pool. Every answer carries its figures,
the marts' as_of and the newest load time.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Body, Depends, FastAPI, HTTPException, Path, Request, Response, Security
from fastapi.security import APIKeyHeader
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestration.api import queries
from orchestration.api.keys import VERIFY_SQL, ApiKey, hash_key
from orchestration.api.rate_limit import TokenBuckets, retry_after_header

# Ids are data of any shape, but bounded: longer ones are a malformed request (422).
MAX_ID_LENGTH = 200
MAX_LOOKUP_SKUS = 1000
# A verified key is trusted this long before it is looked up again (a revocation takes this long).
KEY_CACHE_SECONDS = 10.0

Id = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]


class Freshness(BaseModel):
    as_of: datetime = Field(description="Data time of the figures: the newest snapshot_ts/event_ts built.")
    loaded_at: datetime | None = Field(description="When the newest file the platform loaded committed.")


class LocationAtp(Freshness):
    location_id: str
    sku: str
    atp: int = Field(description="Available to promise at the location (marts.atp_by_location).")


class ChannelAts(Freshness):
    channel_id: str
    sku: str
    ats: int = Field(description="Available to sell on the channel (marts.atp_by_channel).")


class NetworkAtp(Freshness):
    sku: str
    atp: int = Field(description="Network-wide available to promise (marts.atp_network).")


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skus: list[Sku] = Field(min_length=1, max_length=MAX_LOOKUP_SKUS, description="1 to 1,000 skus.")


class SkuAts(BaseModel):
    sku: str
    ats: int


class ChannelLookup(BaseModel):
    channel_id: str
    as_of: datetime
    loaded_at: datetime | None
    items: list[SkuAts] = Field(description="The asked skus the channel has an ats for, in sku order.")
    unknown_skus: list[str] = Field(description="The asked skus the channel has no ats for.")


def _iso(moment: datetime | None) -> str | None:
    """As pydantic writes a UTC time: ISO 8601 with Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


class Error(BaseModel):
    detail: str


class ApiState:
    def __init__(self, data_url: str, keys_url: str, default_rate: float, pool_size: int) -> None:
        # A request waits at most 5 s for a connection, then answers 503.
        self.data = AsyncConnectionPool(data_url, min_size=2, max_size=pool_size, open=False, timeout=5)
        self.keys = AsyncConnectionPool(keys_url, min_size=1, max_size=2, open=False)
        self.default_rate = default_rate
        self.buckets = TokenBuckets()
        self.verified: dict[str, tuple[ApiKey, float]] = {}

    async def verify(self, key: str) -> ApiKey | None:
        digest = hash_key(key)
        cached = self.verified.get(digest)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self.keys.connection() as conn:
            row = await (await conn.execute(VERIFY_SQL, (digest,))).fetchone()
        if row is None:
            self.verified.pop(digest, None)
            return None
        api_key = ApiKey(row[0], row[1], float(row[2]) if row[2] is not None else None)
        self.verified[digest] = (api_key, time.monotonic() + KEY_CACHE_SECONDS)
        return api_key

    async def fetch(self, statement: str, params: dict[str, Any]) -> list[tuple]:
        try:
            async with self.data.connection() as conn:
                return await (await conn.execute(statement, params)).fetchall()
        except psycopg.errors.UndefinedTable as error:
            raise HTTPException(
                503, "the availability marts are not built yet: run `omni-inventory run`"
            ) from error
        except (psycopg.OperationalError, PoolTimeout) as error:
            raise HTTPException(503, "the warehouse is unreachable; retry later") from error


_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A key from `omni-inventory api-key create`."
)


def _state(request: Request) -> ApiState:
    return request.app.state.api


async def authorized(
    state: Annotated[ApiState, Depends(_state)], key: Annotated[str | None, Security(_api_key_header)]
) -> ApiKey:
    """401 without a valid key, 429 past the key's rate limit (checked before any data is read)."""
    api_key = await state.verify(key) if key else None
    if api_key is None:
        raise HTTPException(401, "a valid API key is required in the X-API-Key header")
    wait = state.buckets.take(api_key.key_id, api_key.rate_limit_per_second or state.default_rate)
    if wait:
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": retry_after_header(wait)})
    return api_key


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "No valid X-API-Key."},
    404: {"model": Error, "description": "Unknown location, channel or sku."},
    429: {"model": Error, "description": "Over the key's rate limit (Retry-After says when to retry)."},
}


def create_app(data_url: str, keys_url: str, default_rate: float, pool_size: int = 8) -> FastAPI:
    state = ApiState(data_url, keys_url, default_rate, pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.data.open(wait=True)
        await state.keys.open(wait=True)
        # Everything imported so far lives as long as the process: out of the collector's sight, a
        # full collection no longer walks it (it stalled 1 % of the batch lookups by 30 ms).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await state.data.close()
            await state.keys.close()

    app = FastAPI(
        title="omni-inventory availability API",
        version="1",
        description="Read-only availability: atp per location and network-wide, ats per channel "
        "(docs/contract.md section 8). Every answer carries as_of and the newest load time.",
        lifespan=lifespan,
        dependencies=[Depends(authorized)],
        responses=ERRORS,
    )
    app.state.api = state

    @app.get("/v1/availability/locations/{location_id}/skus/{sku}", response_model=LocationAtp)
    async def location_atp(location_id: Id, sku: Id) -> LocationAtp:
        rows = await state.fetch(queries.LOCATION_ATP, {"location_id": location_id, "sku": sku})
        if not rows:
            known = (await state.fetch(queries.LOCATION_KNOWN, {"location_id": location_id}))[0][0]
            raise HTTPException(
                404,
                f"sku {sku!r} unknown at location {location_id!r}"
                if known
                else f"unknown location {location_id!r}",
            )
        atp, as_of, loaded_at = rows[0]
        return LocationAtp(location_id=location_id, sku=sku, atp=atp, as_of=as_of, loaded_at=loaded_at)

    @app.get("/v1/availability/channels/{channel_id}/skus/{sku}", response_model=ChannelAts)
    async def channel_ats(channel_id: Id, sku: Id) -> ChannelAts:
        rows = await state.fetch(queries.CHANNEL_ATS, {"channel_id": channel_id, "sku": sku})
        if not rows:
            known = (await state.fetch(queries.CHANNEL_KNOWN, {"channel_id": channel_id}))[0][0]
            raise HTTPException(
                404,
                f"sku {sku!r} unknown on channel {channel_id!r}"
                if known
                else f"unknown channel {channel_id!r}",
            )
        ats, as_of, loaded_at = rows[0]
        return ChannelAts(channel_id=channel_id, sku=sku, ats=ats, as_of=as_of, loaded_at=loaded_at)

    @app.get("/v1/availability/network/skus/{sku}", response_model=NetworkAtp)
    async def network_atp(sku: Id) -> NetworkAtp:
        rows = await state.fetch(queries.NETWORK_ATP, {"sku": sku})
        if not rows:
            raise HTTPException(404, f"unknown sku {sku!r}")
        atp, as_of, loaded_at = rows[0]
        return NetworkAtp(sku=sku, atp=atp, as_of=as_of, loaded_at=loaded_at)

    @app.post("/v1/availability/channels/{channel_id}/lookup", response_model=ChannelLookup)
    async def channel_lookup(channel_id: Id, request: Annotated[LookupRequest, Body()]) -> Response:
        asked = sorted(set(request.skus))
        # One JSON text parameter: psycopg adapts a list of 1,000 strings element by element.
        rows = await state.fetch(
            queries.CHANNEL_LOOKUP, {"channel_id": channel_id, "skus": json.dumps(asked)}
        )
        as_of, loaded_at = rows[0][2], rows[0][3]
        if as_of is None:
            raise HTTPException(404, f"unknown channel {channel_id!r}")
        found = {sku: ats for sku, ats, _, _ in rows if sku is not None}
        # The ChannelLookup document, encoded directly: a pydantic model per item cost more than the query.
        answer = {
            "channel_id": channel_id,
            "as_of": _iso(as_of),
            "loaded_at": _iso(loaded_at),
            "items": [{"sku": sku, "ats": found[sku]} for sku in asked if sku in found],
            "unknown_skus": [sku for sku in asked if sku not in found],
        }
        return Response(json.dumps(answer, ensure_ascii=False), media_type="application/json")

    return app
