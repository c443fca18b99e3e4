"""The availability API served for real (uvicorn in a subprocess) on a small built world:
its numbers are the marts', and keys, rate limits, 404 and 422 behave as docs/contract.md section 8 says."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

import psycopg
import pytest

from tests.api.world import Server, World
from tests.support.dbt import query

V1 = "/v1/availability"


def create_key(world: World, name: str, *extra: str) -> str:
    result = world.cli("api-key", "create", name, *extra)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("omni_") and len(key) > 40
    return key


@pytest.fixture(scope="module")
def key(world: World) -> str:
    return create_key(world, "test-client")


def newest_load(world: World) -> datetime:
    return query(world.url, "select max(loaded_at) from meta.file_ledger where status = 'loaded'")[0][0]


def test_every_endpoint_answers_the_marts_numbers(world: World, server: Server, key: str) -> None:
    loaded_at = newest_load(world)
    with server.client(key) as client:
        locations = query(world.url, "select location_id, sku, atp, as_of from marts.atp_by_location")
        assert len(locations) >= 5
        for location_id, sku, atp, as_of in locations:
            answer = client.get(f"{V1}/locations/{location_id}/skus/{sku}")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["location_id"], body["sku"], body["atp"]) == (location_id, sku, atp)
            assert datetime.fromisoformat(body["as_of"]) == as_of
            assert datetime.fromisoformat(body["loaded_at"]) == loaded_at

        channels = query(world.url, "select channel_id, sku, ats, as_of from marts.atp_by_channel")
        assert {row[0] for row in channels} == {"WEB", "PICK", "MKT"}
        for channel_id, sku, ats, as_of in channels:
            body = client.get(f"{V1}/channels/{channel_id}/skus/{sku}").json()
            assert (body["channel_id"], body["sku"], body["ats"]) == (channel_id, sku, ats)
            assert datetime.fromisoformat(body["as_of"]) == as_of
            assert datetime.fromisoformat(body["loaded_at"]) == loaded_at

        network = query(world.url, "select sku, atp, as_of from marts.atp_network")
        for sku, atp, as_of in network:
            body = client.get(f"{V1}/network/skus/{sku}").json()
            assert (body["sku"], body["atp"], datetime.fromisoformat(body["as_of"])) == (sku, atp, as_of)

        for channel_id in ("WEB", "MKT"):
            expected = {sku: ats for c, sku, ats, _ in channels if c == channel_id}
            answer = client.post(
                f"{V1}/channels/{channel_id}/lookup", json={"skus": [*expected, "NOPE", "A"]}
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert {item["sku"]: item["ats"] for item in body["items"]} == expected
            assert body["unknown_skus"] == ["NOPE"]
            assert datetime.fromisoformat(body["as_of"]) == channels[0][3]
            assert datetime.fromisoformat(body["loaded_at"]) == loaded_at


def test_openapi_documents_the_four_endpoints_and_the_key(server: Server) -> None:
    with server.client() as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    assert set(document["paths"]) == {
        f"{V1}/locations/{{location_id}}/skus/{{sku}}",
        f"{V1}/channels/{{channel_id}}/skus/{{sku}}",
        f"{V1}/network/skus/{{sku}}",
        f"{V1}/channels/{{channel_id}}/lookup",
    }
    assert document["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_a_request_without_a_valid_key_answers_401(world: World, server: Server) -> None:
    path = f"{V1}/network/skus/A"
    revoked = create_key(world, "revoked-client")
    assert world.cli("api-key", "revoke", "revoked-client").returncode == 0
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "omni_not-a-key"}, {"X-API-Key": revoked}):
        with server.client() as client:
            answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert "atp" not in answer.json()
    # malformed and unknown requests are refused before validation too: nothing is told without a key
    with server.client() as client:
        assert client.get(f"{V1}/locations/{'x' * 500}/skus/A").status_code == 401
        assert client.post(f"{V1}/channels/WEB/lookup", json={"skus": []}).status_code == 401


def test_only_a_hash_of_each_key_is_stored_and_the_key_login_reads_nothing_else(
    world: World, key: str
) -> None:
    rows = query(world.url, "select name, key_hash, key_hint from meta.api_keys where name = 'test-client'")
    assert rows == [("test-client", hashlib.sha256(key.encode()).hexdigest(), key[:9])]
    stored = query(world.url, "select row_to_json(k)::text from meta.api_keys as k")
    assert not any(key in text for (text,) in stored)
    assert world.cli("api-key", "create", "test-client").returncode != 0  # names are unique
    privileges = query(
        world.url,
        "select has_column_privilege('omni_api_keys', 'meta.api_keys', 'key_hash', 'select'),"
        " has_column_privilege('omni_api_keys', 'meta.api_keys', 'created_at', 'select'),"
        " has_table_privilege('omni_api_keys', 'marts.atp_by_channel', 'select'),"
        " has_table_privilege('omni_api_keys', 'meta.file_ledger', 'select'),"
        " has_column_privilege('omni_bi_service', 'meta.api_keys', 'key_hash', 'select'),"
        " has_table_privilege('omni_bi_service', 'marts.atp_by_channel', 'select'),"
        " has_table_privilege('omni_bi_service', 'marts.atp_by_channel', 'insert')",
    )
    assert privileges == [(True, False, False, False, False, True, False)]


def test_past_its_rate_limit_a_key_answers_429(world: World, server: Server) -> None:
    slow = create_key(world, "slow-client", "--rate-limit", "0.5")  # 1 token, one more every 2 s
    with server.client(slow) as client:
        first = client.get(f"{V1}/network/skus/A")
        second = client.get(f"{V1}/network/skus/A")
        assert first.status_code == 200, first.text
        assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1
        time.sleep(2.1)
        assert client.get(f"{V1}/network/skus/A").status_code == 200
    # another key has its own bucket
    with server.client(create_key(world, "other-client")) as client:
        assert client.get(f"{V1}/network/skus/A").status_code == 200


def test_unknown_keys_answer_404_naming_what_is_unknown(server: Server, key: str) -> None:
    with server.client(key) as client:
        cases = {
            f"{V1}/locations/NOWHERE/skus/A": "unknown location 'NOWHERE'",
            f"{V1}/locations/S1/skus/NOPE": "sku 'NOPE' unknown at location 'S1'",
            f"{V1}/channels/NOCHAN/skus/A": "unknown channel 'NOCHAN'",
            f"{V1}/channels/WEB/skus/NOPE": "sku 'NOPE' unknown on channel 'WEB'",
            f"{V1}/network/skus/NOPE": "unknown sku 'NOPE'",
        }
        for path, detail in cases.items():
            answer = client.get(path)
            assert (answer.status_code, answer.json()["detail"]) == (404, detail), path
        answer = client.post(f"{V1}/channels/NOCHAN/lookup", json={"skus": ["A"]})
        assert (answer.status_code, answer.json()["detail"]) == (404, "unknown channel 'NOCHAN'")
        # ids are data: quotes and SQL reach the query as values
        assert client.get(f"{V1}/locations/S1'; drop table marts.x; --/skus/A").status_code == 404


def test_malformed_requests_answer_422(server: Server, key: str) -> None:
    lookup = f"{V1}/channels/WEB/lookup"
    with server.client(key) as client:
        bodies = [
            {"skus": []},
            {"skus": [f"S{i}" for i in range(1001)]},
            {"skus": ["A"], "extra": 1},
            {"skus": "A"},
            {"skus": [""]},
            {"skus": ["x" * 201]},
            {"skus": [1]},
            {},
        ]
        for body in bodies:
            answer = client.post(lookup, json=body)
            assert answer.status_code == 422, (str(body)[:60], answer.text)
        assert (
            client.post(
                lookup, content=b"{not json", headers={"Content-Type": "application/json"}
            ).status_code
            == 422
        )
        assert client.get(f"{V1}/locations/{'x' * 201}/skus/A").status_code == 422
        # the largest batch is fine
        assert client.post(lookup, json={"skus": [f"S{i}" for i in range(1000)]}).status_code == 200


def test_the_api_reads_through_the_bi_service_login(world: World, server: Server, key: str) -> None:
    with server.client(key) as client:
        assert client.get(f"{V1}/network/skus/A").status_code == 200
    with psycopg.connect(world.url) as conn:
        users = {
            row[0]
            for row in conn.execute(
                "select usename from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
                " and application_name <> 'dbt'"
            )
        }
    assert {"omni_bi_service", "omni_api_keys"} <= users
