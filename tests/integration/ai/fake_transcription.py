"""A local stand-in for OpenAI's ``POST /v1/audio/transcriptions`` (multipart), served
on 127.0.0.1 by the same runner as the other fakes (``fake_servers.serve``).

It answers ``verbose_json`` (text, language, duration, segments) or ``json`` (text) as
asked, records every request (form fields, the file's name, type, size and SHA-256)
and follows a ``Behaviour`` (slow, failing with a status) like the other fakes.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.integration.ai.fake_servers import Behaviour

TRANSCRIPTIONS = "/v1/audio/transcriptions"
SAID = "The dog has been limping on the left hind leg. No swelling. Rest for a week."


@dataclass
class Upload:
    fields: dict[str, list[str]]
    file_name: str
    content_type: str
    size: int
    sha256: str
    authorization: str | None


@dataclass
class FakeTranscriptions:
    behaviour: Behaviour = field(default_factory=Behaviour)
    uploads: list[Upload] = field(default_factory=list)
    text: str = SAID

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.uploads.clear()
        self.text = SAID

    def count(self) -> int:
        return len(self.uploads)


def transcription_app(service: FakeTranscriptions) -> Starlette:
    async def transcriptions(request: Request) -> Response:
        form = await request.form()
        fields: dict[str, list[str]] = {}
        upload: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = value
            else:
                fields.setdefault(name, []).append(value)
        data = await upload.read() if upload is not None else b""
        service.uploads.append(
            Upload(
                fields=fields,
                file_name=(upload.filename or "") if upload else "",
                content_type=(upload.content_type or "") if upload else "",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                authorization=request.headers.get("authorization"),
            )
        )
        behaviour = service.behaviour
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.failures != 0:
            if behaviour.failures > 0:
                behaviour.failures -= 1
            error = {"error": {"message": "simulated failure", "type": "server_error"}}
            return JSONResponse(error, behaviour.status, headers=behaviour.headers)
        if request.headers.get("authorization") != "Bearer test-key":
            return JSONResponse({"error": {"message": "bad key"}}, 401)
        if upload is None or not data:
            return JSONResponse({"error": {"message": "no file"}}, 400)
        answer: dict[str, Any] = {"text": service.text}
        if fields.get("response_format") == ["verbose_json"]:
            sentences = [part.strip() + "." for part in service.text.split(".") if part.strip()]
            answer |= {
                "task": "transcribe",
                "language": "english",
                "duration": 2.0 * len(sentences),
                "segments": [
                    {
                        "id": n,
                        "seek": 0,
                        "start": 2.0 * n,
                        "end": 2.0 * (n + 1),
                        "text": " " + sentence,
                        "tokens": [],
                        "temperature": 0.0,
                        "avg_logprob": -0.2,
                        "compression_ratio": 1.0,
                        "no_speech_prob": 0.01,
                    }
                    for n, sentence in enumerate(sentences)
                ],
            }
        return JSONResponse(answer)

    return Starlette(routes=[Route(TRANSCRIPTIONS, transcriptions, methods=["POST"])])
