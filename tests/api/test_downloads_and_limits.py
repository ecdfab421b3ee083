"""Downloads name their file safely, and uploads document their limits (issue 13, item 8).

- ``Content-Disposition`` of every download (attachment content, visit audio, the signed
  file route) is RFC 6266 ``attachment; filename="<ascii>"; filename*=UTF-8''<utf-8>``
  built from the sanitised name: the attack replayed is a hostile upload name (path
  separators, quotes, ``;``, ``%``, CR/LF header injection, bidi override, non-ASCII)
  meant to escape the header or plant a file elsewhere on the downloader's disk.
- The download name is part of the signed URL: altering it is refused (403).
- Each upload's OpenAPI description states the limit of the *running* settings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import SecretStr

from tests.api.auth_helpers import (
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    new_client,
)
from tests.conftest import make_settings
from tests.fixtures.world import World, open_world
from vetchart.adapters.storage.local import sign
from vetchart.api.app import create_app
from vetchart.config import (
    Environment,
    ObservabilitySettings,
    RateLimitSettings,
    StorageSettings,
)
from vetchart.domain.uploads import content_disposition, sanitize_filename
from vetchart.services.ports.storage import SignedUrlTerms

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
WAV = b"RIFF" + (36 + 64).to_bytes(4, "little") + b"WAVEfmt " + b"\x10\0\0\0\x01\0\x01\0"
WAV += b"\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0" + b"data" + (64).to_bytes(4, "little") + b"\0" * 64

# A name that tries to end the header's quoted string, add parameters and headers, climb
# out of the download folder and hide its real extension.
HOSTILE = '..\\..\\Windows\\notes"; filename=evil.exe; x=%41 r\u00e9sum\u00e9 \u202efdp.exe'
_DISPOSITION = re.compile(r"""attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''(\S+)""")


def parse_disposition(value: str) -> tuple[str, str]:
    """(ASCII filename, decoded filename*) of a well-formed header, or fail."""
    assert "\r" not in value
    assert "\n" not in value
    match = _DISPOSITION.fullmatch(value)
    assert match, value
    ascii_name, encoded = match.groups()
    assert not any(c in ascii_name for c in '"\\/%'), ascii_name
    assert re.fullmatch(r"[A-Za-z0-9!#$&+\-.^_`|~%]+", encoded), encoded
    return ascii_name, unquote(encoded, encoding="utf-8", errors="strict")


# --------------------------------------------------------------------------- the header


def download_name(raw: str) -> str:
    """The stored (sanitised) name as a download names it: no quote or ``<>:|?*``."""
    return sanitize_filename(raw).translate(str.maketrans(dict.fromkeys('"<>:|?*', "_")))


@pytest.mark.parametrize(
    "raw",
    [
        HOSTILE,
        "../../etc/passwd",
        'a"b\\c.pdf',
        "line\r\nSet-Cookie: session=stolen.pdf",
        "nul\x00byte\x7f.pdf",
        "\u65e5\u672c\u8a9e.pdf",
        "100%.pdf",
        "",
        "..",
    ],
)
async def test_content_disposition_is_safe_for_any_name(raw: str) -> None:
    ascii_name, utf8_name = parse_disposition(content_disposition(raw))
    assert utf8_name == download_name(raw)
    for name in (ascii_name, utf8_name):
        assert not any(c in name for c in '/\\"\r\n\x00\x7f\u202e'), name
        assert name
        assert not name.startswith(".")
    assert len(ascii_name) <= 255


async def test_no_name_is_a_bare_attachment() -> None:
    assert content_disposition(None) == "attachment"


# --------------------------------------------------------------------------- downloads


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    files = tmp_path_factory.mktemp("download-files")
    async with open_world(
        pg_server_url,
        template_database,
        "downloads",
        storage=StorageSettings(files_dir=files),
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        await world.seed_demo()
        await world.sign_in(RIVERSIDE_VET, RIVERSIDE_TECH, OWNER)
        yield world


async def _pet_id(world: World) -> str:
    mine = await world.client.get(f"{API}/pets?limit=50", headers=world.headers[OWNER])
    assert mine.status_code == 200, mine.text
    return str(mine.json()["items"][0]["id"])


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_attachment_download_sends_the_sanitised_name(world: World) -> None:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    record = await world.client.post(
        f"{API}/pets/{await _pet_id(world)}/medical-records",
        json={"record_type": "checkup", "title": "Download check", "visit_date": day},
        headers=world.headers[RIVERSIDE_VET],
    )
    assert record.status_code == 201, record.text
    boundary = "vetchart-download-1234"
    # A quote would end the form's own filename parameter; the route test below signs one.
    sent_name = HOSTILE.replace('"', "")
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{sent_name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    uploaded = await world.client.post(
        f"{API}/medical-records/{record.json()['id']}/attachments",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **world.headers[RIVERSIDE_VET],
        },
    )
    assert uploaded.status_code == 201, uploaded.text
    stored_name = uploaded.json()["file_name"]

    redirect = await world.client.get(
        f"{API}/attachments/{uploaded.json()['id']}/content", headers=world.headers[OWNER]
    )
    assert redirect.status_code == 307, redirect.text
    location = redirect.headers["location"]
    assert _query(location)["filename"] == stored_name
    fetched = await world.client.get(location)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == PDF
    ascii_name, utf8_name = parse_disposition(fetched.headers["content-disposition"])
    assert utf8_name == download_name(stored_name)
    assert stored_name == sanitize_filename(stored_name)
    assert "r\u00e9sum\u00e9" in utf8_name
    assert "resume" in ascii_name
    assert fetched.headers["x-content-type-options"] == "nosniff"

    # The name is signed: another one on the same link is refused.
    query = _query(location) | {"filename": "invoice.exe"}
    altered = await world.client.get(f"{urlsplit(location).path}?{urlencode(query)}")
    assert altered.status_code == 403, altered.text
    assert PDF not in altered.content


async def test_audio_download_is_named_after_the_visit(world: World) -> None:
    visit = await world.client.post(
        f"{API}/pets/{await _pet_id(world)}/visits",
        json={"visit_date": datetime.now(UTC).isoformat()},
        headers=world.headers[RIVERSIDE_TECH],
    )
    assert visit.status_code == 201, visit.text
    visit_id = visit.json()["id"]
    put = await world.client.put(
        f"{API}/visits/{visit_id}/audio",
        content=WAV,
        headers={"Content-Type": "audio/wav", **world.headers[RIVERSIDE_TECH]},
    )
    assert put.status_code == 201, put.text
    redirect = await world.client.get(
        f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER]
    )
    assert redirect.status_code == 307, redirect.text
    fetched = await world.client.get(redirect.headers["location"])
    assert fetched.status_code == 200, fetched.text
    assert parse_disposition(fetched.headers["content-disposition"]) == (
        f"visit-{visit_id}.wav",
        f"visit-{visit_id}.wav",
    )


async def test_the_file_route_sanitises_a_signed_hostile_name_again(world: World) -> None:
    """Even a name that was never sanitised (signed by the server's key directly: a future
    caller that forgets) cannot inject a header or a path."""
    visit = await world.client.post(
        f"{API}/pets/{await _pet_id(world)}/visits",
        json={"visit_date": datetime.now(UTC).isoformat()},
        headers=world.headers[RIVERSIDE_TECH],
    )
    visit_id = visit.json()["id"]
    put = await world.client.put(
        f"{API}/visits/{visit_id}/audio",
        content=WAV,
        headers={"Content-Type": "audio/wav", **world.headers[RIVERSIDE_TECH]},
    )
    assert put.status_code == 201, put.text
    location = (
        await world.client.get(f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER])
    ).headers["location"]
    key = urlsplit(location).path.removeprefix(f"{API}/files/")
    hostile = '../../x"\r\nSet-Cookie: session=stolen; a=\u202efdp.exe'
    secret = world.settings.auth.encryption_key.get_secret_value().encode()
    signing_key = hashlib.sha256(b"vetchart-files:" + secret).digest()
    expires = int(datetime.now(UTC).timestamp()) + 300
    sig = sign(signing_key, SignedUrlTerms(key, "GET", expires, filename=hostile))
    query = urlencode({"expires": expires, "sig": sig, "filename": hostile})
    fetched = await world.client.get(f"{API}/files/{key}?{query}")
    assert fetched.status_code == 200, fetched.text
    assert "set-cookie" not in fetched.headers
    _, utf8_name = parse_disposition(fetched.headers["content-disposition"])
    assert utf8_name == download_name(hostile)


# --------------------------------------------------------------------------- upload limits


def _paths_for(openapi: dict[str, object]) -> dict[tuple[str, str], str]:
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    return {
        (method, path): paths[path][method].get("description", "")
        for path, method in (
            (f"{API}/visits/{{visit_id}}/audio", "put"),
            (f"{API}/medical-records/{{record_id}}/attachments", "post"),
            (f"{API}/kb/documents", "post"),
        )
    }


async def test_upload_descriptions_state_the_running_limits(tmp_path: Path) -> None:
    unused = "postgresql+asyncpg://unused:unused@127.0.0.1:1/unused"
    settings = make_settings(
        unused,
        storage=StorageSettings(
            files_dir=tmp_path,
            max_audio_bytes=3 * 1024 * 1024,
            max_attachment_bytes=1536 * 1024,
            max_kb_document_bytes=12345,
        ),
    )
    app = create_app(settings, database_url=unused)
    async with new_client(app) as client:
        openapi = (await client.get("/openapi.json")).json()
    described = _paths_for(openapi)
    assert "x-vetchart-upload-kind" not in str(openapi)  # the marker is replaced
    assert "3 MiB (3145728 bytes)" in described[("put", f"{API}/visits/{{visit_id}}/audio")]
    attachments = described[("post", f"{API}/medical-records/{{record_id}}/attachments")]
    assert "1.5 MiB (1572864 bytes)" in attachments
    assert "12345 bytes" in described[("post", f"{API}/kb/documents")]
    for text in described.values():
        assert "100 MiB" not in text
        assert "20 MiB" not in text

    # Another app in the same process, with the defaults, states its own limits.
    default_app = create_app(make_settings(unused), database_url=unused)
    async with new_client(default_app) as client:
        defaults = _paths_for((await client.get("/openapi.json")).json())
    assert "100 MiB (104857600 bytes)" in defaults[("put", f"{API}/visits/{{visit_id}}/audio")]
    assert "`VETCHART_MAX_KB_DOCUMENT_BYTES`" in defaults[("post", f"{API}/kb/documents")]


# --------------------------------------------------------------------------- /metrics

METRICS_TOKEN = "scrape-token-0123456789abcdef"


def _metrics_app(env: Environment, token: str | None, tmp_path: Path) -> FastAPI:
    unused = "postgresql+asyncpg://unused:unused@127.0.0.1:1/unused"
    settings = make_settings(
        unused,
        storage=StorageSettings(files_dir=tmp_path),
        observability=ObservabilitySettings(
            log_level="WARNING",
            log_json=False,
            metrics_token=SecretStr(token) if token else None,
        ),
    )
    # The production checks (secrets, DATABASE_URL) are not what is tested here.
    settings = settings.model_copy(update={"env": env})
    assert settings.is_production is (env is Environment.PRODUCTION)
    return create_app(settings, database_url=unused)


@pytest.mark.parametrize("env", [Environment.DEVELOPMENT, Environment.PRODUCTION])
async def test_metrics_with_a_token_need_it(env: Environment, tmp_path: Path) -> None:
    """The attack: an outsider scraping /metrics on the public port to map routes and load."""
    app = _metrics_app(env, METRICS_TOKEN, tmp_path)
    async with new_client(app) as client:
        refused = {
            "no credentials": {},
            "wrong token": {"Authorization": "Bearer " + "x" * len(METRICS_TOKEN)},
            "token prefix": {"Authorization": "Bearer " + METRICS_TOKEN[:-1]},
            "wrong scheme": {"Authorization": "Basic " + METRICS_TOKEN},
            "a user's token shape": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},
        }
        for name, headers in refused.items():
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401, (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "vetchart_http_requests_total" not in response.text
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200, allowed.text
    assert "vetchart_http_requests_total" in allowed.text


async def test_metrics_without_a_token_are_hidden_in_production(tmp_path: Path) -> None:
    app = _metrics_app(Environment.PRODUCTION, None, tmp_path)
    async with new_client(app) as client:
        hidden = await client.get("/metrics")
        unknown = await client.get("/no-such-path")
    assert hidden.status_code == 404 == unknown.status_code
    assert hidden.headers["content-type"].startswith("application/problem+json")
    assert "vetchart_" not in hidden.text


async def test_metrics_without_a_token_are_open_in_development(tmp_path: Path) -> None:
    app = _metrics_app(Environment.DEVELOPMENT, None, tmp_path)
    async with new_client(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        ObservabilitySettings(metrics_token=SecretStr("short"))
