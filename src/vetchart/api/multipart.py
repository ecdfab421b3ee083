"""A ``multipart/form-data`` upload read as it arrives: text fields are collected, the one
file part is handed on as an async iterator of its bytes (straight into object storage),
never spooled to disk or held whole in memory.

Starlette's own form parser (``request.form()``) would receive the whole body, spooling
the file to a temporary file, before the route runs; here a refused caller (401, 403)
sends no body into the server's storage, and the size limit stops the transfer itself.

A charset declared by the form or by one of its parts must be a real text encoding
(``TEXT_CHARSETS``, ``PART_CHARSETS``: domain/input_bounds.py), else 415
``unsupported-charset``: no UTF-7, rot13, hex or unknown name is ever used to decode. A
field's own declared charset decodes its value. A NUL in a field's name or value is 422.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from vetchart.api.uploads import raw_body
from vetchart.domain.errors import RuleViolation
from vetchart.domain.input_bounds import (
    NUL_CHARACTER,
    PART_CHARSETS,
    TEXT_CHARSETS,
    text_charset,
)
from vetchart.domain.uploads import (
    FileTooLarge,
    MalformedForm,
    NotMultipart,
    UnsupportedCharset,
)
from vetchart.services.ports.storage import IncomingFile

if TYPE_CHECKING:  # a typing-only name of python-multipart
    from python_multipart.multipart import MultipartCallbacks

FORM_TYPE: Final = b"multipart/form-data"
# Room for the text fields and part headers around the file.
FORM_OVERHEAD_BYTES: Final = 64 * 1024
MAX_FIELDS: Final = 64
MAX_FIELD_BYTES: Final = 8 * 1024
MAX_PART_HEADER_BYTES: Final = 8 * 1024


def declared_charset(raw: bytes, *, part: bool = False) -> str:
    """The Python codec of a charset declared by the form (or by one of its parts), from
    the bytes of the header parameter; else ``UnsupportedCharset``."""
    label = raw.decode("latin-1")
    charset = text_charset(label, part=part)
    if charset is None:
        raise UnsupportedCharset(label, PART_CHARSETS if part else TEXT_CHARSETS)
    return charset


@dataclass(frozen=True)
class _Field:
    name: str
    value: str


@dataclass(frozen=True)
class _FileStart:
    name: str
    filename: str
    content_type: str | None


@dataclass(frozen=True)
class _Data:
    data: bytes


@dataclass(frozen=True)
class _FileEnd:
    pass


_Event = _Field | _FileStart | _Data | _FileEnd


class _Collector:
    """python-multipart's callbacks, turned into events (one parse at a time)."""

    def __init__(self, charset: str) -> None:
        self.events: list[_Event] = []
        self.ended = False
        self._charset = charset
        self._fields = 0
        self._header_name = b""
        self._header_value = b""
        self._header_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._is_file = False
        self._name = ""
        self._part_charset = charset
        self._buffer = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_end": self._end,
        }

    def _decode(self, raw: bytes, charset: str | None = None) -> str:
        return raw.decode(charset or self._charset, errors="replace")

    def _text(self, raw: bytes, what: str, charset: str | None = None) -> str:
        """A field's name or value: text to be stored, so never with a NUL. (A file name is
        only metadata, sanitised before use: domain/uploads.py.)"""
        text = self._decode(raw, charset)
        if "\x00" in text:
            raise RuleViolation(
                f"{NUL_CHARACTER} in a form {what}.",
                rule="form.nul_character",
                field=None if what == "field name" else self._name[:40],
            )
        return text

    def _part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0
        self._buffer = bytearray()
        self._is_file = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._count_header(end - start)

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise MalformedForm("A form part's headers are too long.")

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise MalformedForm('A form part has no Content-Disposition "name".')
        self._name = self._text(options[b"name"], "field name")
        declared = self._headers.get(b"content-type")
        self._part_charset = self._charset
        if declared:
            _, type_options = parse_options_header(declared)
            if b"charset" in type_options:
                self._part_charset = declared_charset(type_options[b"charset"], part=True)
        if b"filename" in options:
            self._is_file = True
            self.events.append(
                _FileStart(
                    self._name,
                    self._decode(options[b"filename"]),
                    self._decode(declared) if declared else None,
                )
            )
            return
        self._fields += 1
        if self._fields > MAX_FIELDS:
            raise RuleViolation(
                f"The form has more than {MAX_FIELDS} fields.", rule="form.too_many_fields"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            if end > start:
                self.events.append(_Data(bytes(data[start:end])))
            return
        self._buffer.extend(data[start:end])
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise RuleViolation(
                f"The form field {self._name[:40]!r} is longer than {MAX_FIELD_BYTES} bytes.",
                rule="form.field_too_long",
                field=self._name[:40],
            )

    def _part_end(self) -> None:
        if self._is_file:
            self.events.append(_FileEnd())
        else:
            value = self._text(bytes(self._buffer), "field value", self._part_charset)
            self.events.append(_Field(self._name, value))

    def _end(self) -> None:
        self.ended = True


class StreamingForm:
    """The ``DocumentForm`` port over a request. At most one file part, named
    ``file_field``; the whole body may not exceed ``max_file_bytes`` plus the overhead."""

    def __init__(self, request: Request, *, max_file_bytes: int, file_field: str = "file") -> None:
        self._request = request
        self._max_file_bytes = max_file_bytes
        self._max_body = max_file_bytes + FORM_OVERHEAD_BYTES
        self._file_field = file_field
        self._fields: dict[str, list[str]] = {}
        self._events: AsyncIterator[_Event] | None = None
        self._files = 0

    def _open(self) -> AsyncIterator[_Event]:
        if self._events is None:
            mime, options = parse_options_header(self._request.headers.get("content-type", ""))
            if mime != FORM_TYPE:
                raise NotMultipart()
            boundary = options.get(b"boundary")
            if not boundary:
                raise MalformedForm("The multipart form has no boundary.")
            charset = declared_charset(options[b"charset"]) if b"charset" in options else "utf-8"
            length = self._request.headers.get("content-length", "")
            if length.isdigit() and int(length) > self._max_body:
                raise FileTooLarge(max_bytes=self._max_file_bytes)
            self._events = self._parse(boundary, charset)
        return self._events

    async def _parse(self, boundary: bytes, charset: str) -> AsyncIterator[_Event]:
        collector = _Collector(charset)
        parser = MultipartParser(boundary, collector.callbacks())
        received = 0
        try:
            async for chunk in raw_body(self._request):
                received += len(chunk)
                if received > self._max_body:
                    raise FileTooLarge(max_bytes=self._max_file_bytes)
                parser.write(chunk)
                events, collector.events = collector.events, []
                for event in events:
                    yield event
                if collector.ended:
                    break  # an epilogue after the closing boundary is not read
            parser.finalize()
        except FormParserError as error:
            raise MalformedForm("The multipart form is malformed.") from error
        for event in collector.events:
            yield event
        if not collector.ended:
            raise MalformedForm("The multipart form ends before its closing boundary.")

    def _add_field(self, event: _Field) -> None:
        self._fields.setdefault(event.name, []).append(event.value)

    def _file_start(self, event: _FileStart) -> IncomingFile:
        self._files += 1
        if event.name != self._file_field:
            raise RuleViolation(
                f"Files go in the form field {self._file_field!r}.",
                rule="form.unexpected_file",
                field=event.name[:40],
            )
        if self._files > 1:
            raise RuleViolation(
                "Only one file may be uploaded.", rule="form.one_file", field=self._file_field
            )
        return IncomingFile(event.filename, event.content_type, self._file_chunks())

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        events = self._open()
        while (event := await anext(events, None)) is not None:
            if isinstance(event, _Data):
                yield event.data
            elif isinstance(event, _FileEnd):
                return
        raise MalformedForm("The multipart form ends inside its file.")

    async def file(self) -> IncomingFile | None:
        events = self._open()
        while (event := await anext(events, None)) is not None:
            if isinstance(event, _Field):
                self._add_field(event)
            elif isinstance(event, _FileStart):
                return self._file_start(event)
        return None

    def fields_so_far(self) -> Mapping[str, Sequence[str]]:
        return dict(self._fields)

    async def fields(self) -> Mapping[str, Sequence[str]]:
        events = self._open()
        while (event := await anext(events, None)) is not None:
            if isinstance(event, _Field):
                self._add_field(event)
            elif isinstance(event, _FileStart):
                self._file_start(event)  # a second file: refused
        return dict(self._fields)
