"""The fast-path reads (answers rendered from rows, api/presenters/) keep the headers the
route's dependencies set: FastAPI copies them only onto answers it renders itself."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import API, RIVERSIDE_VET, login_ok, seed_demo

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


async def test_every_fast_read_carries_the_rate_limit_headers_and_its_etag(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    vet = (await login_ok(client, RIVERSIDE_VET)).headers
    me = (await client.get(f"{API}/users/me", headers=vet)).json()
    pet = (await client.get(f"{API}/pets", params={"limit": 1}, headers=vet)).json()["items"][0]
    records = await client.get(f"{API}/pets/{pet['id']}/medical-records", headers=vet)
    record = records.json()["items"][0]
    owner = pet["owner_id"]
    practice = me["practice_id"]
    urls = [
        f"{API}/pets",
        f"{API}/pets/{pet['id']}",
        f"{API}/pets/{pet['id']}/medical-records",
        f"{API}/medical-records/{record['id']}",
        f"{API}/medical-records/{record['id']}/history",
        f"{API}/practices/{practice}/appointments?date={date.today().isoformat()}",
        f"{API}/pet-owners/{owner}/appointments",
    ]
    for url in urls:
        response = await client.get(url, headers=vet)
        assert response.status_code == 200, (url, response.text)
        for name in RATE_HEADERS:
            assert name in response.headers, (url, name)
        assert response.headers["content-type"] == "application/json; charset=utf-8", url
        assert "x-request-id" in response.headers, url
    single = await client.get(f"{API}/pets/{pet['id']}", headers=vet)
    assert single.headers["etag"] == f'"{single.json()["version"]}"'
    one = await client.get(f"{API}/medical-records/{record['id']}", headers=vet)
    assert one.headers["etag"] == f'"{one.json()["version"]}"'
