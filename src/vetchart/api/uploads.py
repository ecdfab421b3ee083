"""Request bodies streamed to storage, never held whole: a raw body, or the ``file`` part
of a multipart form parsed as it arrives (python-multipart's push parser), so size
limits stop reading at the limit instead of after a spooled copy of the whole upload.

Everything else a multipart body may carry is bounded too: part headers, the number and
size of the other fields; reading stops at the closing boundary (an epilogue is not
read), and a body that ends before its closing boundary is refused (422), so a truncated
upload is never stored as if it were whole. A client that disconnects mid-body gets
``UploadInterrupted`` (400; nobody is listening, but the logs stay quiet)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from vetchart.domain.errors import DomainError, RuleViolation
from vetchart.domain.uploads import UnsupportedMediaType

# Form fields other than the file are small (a description), and few.
MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16
# The headers of one part (Content-Disposition with a file name, Content-Type).
MAX_PART_HEADER_BYTES = 16 * 1024
MULTIPART = "multipart/form-data"


class UploadInterrupted(DomainError):
    """The client went away before the body was complete (400; nothing is stored)."""

    code = "upload-interrupted"
    title = "Upload interrupted"

    def __init__(self, detail: str = "The upload was interrupted; send it again.") -> None:
        super().__init__(detail)


async def _stream(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise UploadInterrupted() from None


async def raw_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in _stream(request):
        yield chunk


class MultipartUpload:
    """One file part (``file_field``) streamed through ``chunks()``; the other (small)
    fields are available once the stream is consumed."""

    def __init__(self, request: Request, file_field: str = "file") -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type.decode("latin-1").lower() != MULTIPART or not boundary:
            raise UnsupportedMediaType(
                "Send the file as multipart/form-data.",
                detected=content_type.decode("latin-1") or None,
                allowed=[MULTIPART],
            )
        self._request = request
        self._file_field = file_field
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self._pending: deque[bytes] = deque()
        self._saw_file = False
        self._in_file = False
        self._ended = False
        self._field_count = 0
        self._header_bytes = 0
        self._field: str | None = None
        self._value = bytearray()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_end": self._end,
            },
        )

    # parser callbacks -------------------------------------------------------------

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = None
        self._in_file = False
        self._value = bytearray()
        self._header_bytes = 0

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise RuleViolation(
                f"The headers of a form part have at most {MAX_PART_HEADER_BYTES} bytes.",
                rule="upload.header_size",
            )

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_name = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == self._file_field:
            if self._saw_file:
                raise RuleViolation(
                    "Send one file per request.", rule="upload.one_file", field=name
                )
            self._saw_file = self._in_file = True
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename else None
        else:
            self._field_count += 1
            if self._field_count > MAX_FIELDS:
                raise RuleViolation(
                    f"The form has at most {MAX_FIELDS} fields besides the file.",
                    rule="upload.field_count",
                )
            self._field = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise RuleViolation(
                f"Form fields other than the file have at most {MAX_FIELD_BYTES} bytes.",
                rule="upload.field_size",
                field=self._field,
            )

    def _part_end(self) -> None:
        if not self._in_file and self._field:
            self.fields[self._field] = self._value.decode("utf-8", "replace")
        self._in_file = False

    def _end(self) -> None:
        self._ended = True

    # the stream ---------------------------------------------------------------------

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in _stream(self._request):
                self._parser.write(chunk)
                while self._pending:
                    yield self._pending.popleft()
                if self._ended:
                    break  # the closing boundary: an epilogue is not worth reading
            self._parser.finalize()
        except MultipartParseError as error:
            raise RuleViolation(
                f"The multipart body is malformed ({error}).", rule="upload.malformed"
            ) from None
        if not self._ended:
            raise RuleViolation(
                "The multipart body ends before its closing boundary.", rule="upload.truncated"
            )
        while self._pending:
            yield self._pending.popleft()
        if not self._saw_file:
            raise RuleViolation(
                f"The form has no '{self._file_field}' part.",
                rule="upload.file_required",
                field=self._file_field,
            )


def multipart_openapi(description_field: bool = True) -> dict[str, object]:
    """The request body as documentation (the route reads the stream itself)."""
    properties: dict[str, object] = {"file": {"type": "string", "format": "binary"}}
    if description_field:
        properties["description"] = {"type": "string", "maxLength": 1000}
    return {
        "requestBody": {
            "required": True,
            "content": {
                MULTIPART: {
                    "schema": {"type": "object", "required": ["file"], "properties": properties}
                }
            },
        }
    }
