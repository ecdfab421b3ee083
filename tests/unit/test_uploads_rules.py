"""Upload rules: file names, content allowlists, object keys — and the content sniffer."""

from __future__ import annotations

import io
import unicodedata
import uuid
import wave
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vetchart.adapters.storage.sniff import checker_for, detect_mime
from vetchart.domain.errors import DomainError, NotFound, RuleViolation
from vetchart.domain.uploads import (
    ALLOWED_TYPES,
    MAX_FILENAME_BYTES,
    EmptyFile,
    FileTooLarge,
    InvalidObjectKey,
    ObjectKey,
    UnsupportedMediaType,
    UploadKind,
    UploadRejected,
    accepted_content_type,
    ensure_size_allowed,
    is_object_key,
    key_prefix,
    sanitize_filename,
)

# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("C:\\Users\\vet\\Desktop\\xray.png", "xray.png"),
        ("/srv/uploads/report.pdf", "report.pdf"),
        ("report\x00.pdf", "report.pdf"),
        ("bad\x00name\x1f\x7f.txt", "badname.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # no right-to-left override spoofing
        (".htaccess", "htaccess"),
        ("...hidden.pdf", "hidden.pdf"),
        ("  lab   results\t\n2025 .pdf  ", "lab results 2025 .pdf"),
        ("trailing dots...", "trailing dots"),
        ("Re\u0301sume\u0301.pdf", "R\u00e9sum\u00e9.pdf"),  # NFC
        ("Ćwiczenia psa 🐕.m4a", "Ćwiczenia psa 🐕.m4a"),
        ("", "upload"),
        ("   ", "upload"),
        ("..", "upload"),
        ("../", "upload"),
        ("\x00\x01", "upload"),
        ("a/b/", "upload"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_names_are_cut_to_255_bytes_keeping_the_extension() -> None:
    cut = sanitize_filename("x" * 400 + ".pdf")
    assert cut == "x" * 251 + ".pdf"

    multibyte = sanitize_filename("é" * 300 + ".jpeg")  # 2 bytes each: never split in half
    assert multibyte.endswith(".jpeg")
    assert len(multibyte.encode()) <= MAX_FILENAME_BYTES
    assert multibyte == "é" * 125 + ".jpeg"

    no_extension = sanitize_filename("🐕" * 100)  # 4 bytes each
    assert no_extension == "🐕" * 63

    not_an_extension = sanitize_filename("a" * 300 + ".this is not an extension")
    assert len(not_an_extension.encode()) <= MAX_FILENAME_BYTES
    assert not_an_extension.startswith("a" * 200)


@given(st.text(max_size=600))
def test_sanitized_names_are_always_safe(raw: str) -> None:
    clean = sanitize_filename(raw)
    assert clean
    assert len(clean.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert "/" not in clean
    assert "\\" not in clean
    assert not clean.startswith(".")
    assert clean == clean.strip()
    assert not any(unicodedata.category(ch).startswith("C") for ch in clean)
    assert unicodedata.is_normalized("NFC", clean)
    assert sanitize_filename(clean) == clean


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    ("kind", "detected", "stored"),
    [
        (UploadKind.VISIT_AUDIO, "audio/mpeg", "audio/mpeg"),
        (UploadKind.VISIT_AUDIO, "audio/x-wav", "audio/wav"),
        (UploadKind.VISIT_AUDIO, "audio/ogg", "audio/ogg"),
        (UploadKind.VISIT_AUDIO, "audio/x-flac", "audio/flac"),
        (UploadKind.VISIT_AUDIO, "audio/mp4", "audio/mp4"),
        (UploadKind.VISIT_AUDIO, "video/webm", "audio/webm"),  # a recorder's container
        (UploadKind.VISIT_AUDIO, "video/mp4", "audio/mp4"),
        (UploadKind.RECORD_ATTACHMENT, "application/pdf", "application/pdf"),
        (UploadKind.RECORD_ATTACHMENT, "image/apng", "image/png"),
        (UploadKind.RECORD_ATTACHMENT, "image/jpeg", "image/jpeg"),
        (UploadKind.KB_DOCUMENT, "text/plain", "text/plain"),
    ],
)
def test_allowed_types(kind: UploadKind, detected: str, stored: str) -> None:
    assert accepted_content_type(kind, detected) == stored
    assert stored in ALLOWED_TYPES[kind]


@pytest.mark.parametrize(
    ("kind", "detected"),
    [
        (UploadKind.VISIT_AUDIO, "application/pdf"),
        (UploadKind.VISIT_AUDIO, "text/plain"),
        (UploadKind.RECORD_ATTACHMENT, "video/webm"),  # containers pass as audio only
        (UploadKind.RECORD_ATTACHMENT, "audio/mpeg"),
        (UploadKind.RECORD_ATTACHMENT, "text/html"),
        (UploadKind.RECORD_ATTACHMENT, "image/svg+xml"),
        (UploadKind.RECORD_ATTACHMENT, "application/x-executable"),
        (UploadKind.RECORD_ATTACHMENT, "application/zip"),
    ],
)
def test_refused_types_name_what_was_seen(kind: UploadKind, detected: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        accepted_content_type(kind, detected)
    assert detected in raised.value.detail
    assert raised.value.extra["detected_type"] == detected
    assert raised.value.extra["allowed_types"] == sorted(ALLOWED_TYPES[kind])


def test_unrecognised_content_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="not a recognised file format"):
        accepted_content_type(UploadKind.RECORD_ATTACHMENT, None)


def test_sizes_and_the_error_family() -> None:
    ensure_size_allowed(1, 1)
    with pytest.raises(FileTooLarge, match="25 MiB") as raised:
        ensure_size_allowed(25 * 1024 * 1024 + 1, 25 * 1024 * 1024)
    assert raised.value.extra == {"max_bytes": 25 * 1024 * 1024}
    with pytest.raises(EmptyFile):
        ensure_size_allowed(0, 10)
    # The API maps them: RuleViolation → 422, and the two new classes to 413 / 415.
    assert issubclass(EmptyFile, RuleViolation)
    assert issubclass(EmptyFile, UploadRejected)
    assert issubclass(FileTooLarge, UploadRejected)
    assert issubclass(UnsupportedMediaType, UploadRejected)
    assert issubclass(UploadRejected, DomainError)
    assert issubclass(InvalidObjectKey, NotFound)
    assert EmptyFile().extra == {"rule": "upload.not_empty", "field": "file"}


# --------------------------------------------------------------------------- object keys

ID = uuid.UUID("0b8f9a5e-4a47-4a43-9d0c-0b1f3a8f6a51")


def test_keys_are_kind_year_month_and_id_in_utc() -> None:
    late_evening_in_new_york = datetime(2025, 1, 31, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    key = ObjectKey.new(UploadKind.VISIT_AUDIO, now=late_evening_in_new_york, object_id=ID)
    assert key.value == f"visit_audio/2025/02/{ID}"
    assert str(key) == key.value
    assert ObjectKey.parse(key.value) == key
    assert key.value.startswith(key_prefix(UploadKind.VISIT_AUDIO))


def test_keys_need_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ObjectKey.new(UploadKind.VISIT_AUDIO, now=datetime(2025, 1, 1), object_id=ID)


@pytest.mark.parametrize(
    "value",
    [
        f"../visit_audio/2025/02/{ID}",
        f"visit_audio/2025/02/{ID}/..",
        f"visit_audio/../2025/02/{ID}",
        f"/visit_audio/2025/02/{ID}",
        f"visit_audio\\2025\\02\\{ID}",
        f"visit_audio/2025/13/{ID}",
        f"visit_audio/2025/00/{ID}",
        f"visit_audio/2025/2/{ID}",
        f"visit_audio/1999/02/{ID}",
        f"visit_audio/2025/02/{str(ID).upper()}",
        f"visit_audio/2025/02/{ID.hex}",
        f"visit_audio/2025/02/{ID}\n",
        f"visit_audio/2025/02/{ID}.pdf",
        f"visit_audio/\uff12\uff10\uff12\uff15/02/{ID}",  # full-width digits
        f"other_kind/2025/02/{ID}",
        f"visit_audio/2025/02/{ID}/extra",
        "../../etc/passwd",
        "",
    ],
)
def test_keys_of_any_other_shape_are_refused(value: str) -> None:
    with pytest.raises(InvalidObjectKey):
        ObjectKey.parse(value)
    assert not is_object_key(value)


# --------------------------------------------------------------------------- the sniffer


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * 100)
    return buffer.getvalue()


_FTYP_MP4 = b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00mp42isomiso5" + b"\x00" * 32
_FTYP_M4A = b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 32
_WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\x00" * 32


@pytest.mark.parametrize(
    ("kind", "head", "stored"),
    [
        (UploadKind.VISIT_AUDIO, _wav(), "audio/wav"),
        (UploadKind.VISIT_AUDIO, b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 32, "audio/mpeg"),
        (UploadKind.VISIT_AUDIO, b"\xff\xfb\x90\x64" + b"\x00" * 32, "audio/mpeg"),
        (UploadKind.VISIT_AUDIO, b"OggS\x00\x02" + b"\x00" * 32, "audio/ogg"),
        (UploadKind.VISIT_AUDIO, b"fLaC\x00\x00\x00\x22" + b"\x00" * 32, "audio/flac"),
        (UploadKind.VISIT_AUDIO, _WEBM, "audio/webm"),
        (UploadKind.VISIT_AUDIO, _FTYP_M4A, "audio/mp4"),
        (UploadKind.VISIT_AUDIO, _FTYP_MP4, "audio/mp4"),
        (UploadKind.RECORD_ATTACHMENT, b"%PDF-1.4\n" + b"\x00" * 32, "application/pdf"),
        (UploadKind.RECORD_ATTACHMENT, b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png"),
        (UploadKind.RECORD_ATTACHMENT, b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image/jpeg"),
        (UploadKind.KB_DOCUMENT, "Lab report\r\nALT: 42 U/l\tok ✓\n".encode(), "text/plain"),
        (UploadKind.KB_DOCUMENT, "\ufeffCSV;export\n".encode(), "text/plain"),
    ],
)
def test_the_checker_judges_by_content(kind: UploadKind, head: bytes, stored: str) -> None:
    assert checker_for(kind)(head) == stored


def test_text_cut_in_the_middle_of_a_character_is_still_text() -> None:
    assert detect_mime("température".encode()[:4]) == "text/plain"  # "temp" + half of "é"
    assert detect_mime(("a" * 10 + "é").encode()[:-1]) == "text/plain"


@pytest.mark.parametrize(
    ("head", "detected"),
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "application/x-executable"),
        (b"MZ\x90\x00" + b"\x00" * 64, "application/x-msdownload"),
        (b"PK\x03\x04" + b"\x00" * 32, "application/zip"),
        (b"  <!DOCTYPE html><html><script>alert(1)</script>", "text/html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b'<?xml version="1.0"?><note/>', "application/xml"),
        (b"text with a \x00 NUL", None),
        (b"text with an escape \x1b[31m", None),
        (b"\xc3\x28 invalid utf-8", None),
        (b"", None),
    ],
)
def test_what_the_sniffer_sees(head: bytes, detected: str | None) -> None:
    assert detect_mime(head) == detected
    with pytest.raises(UnsupportedMediaType if head else EmptyFile):
        checker_for(UploadKind.RECORD_ATTACHMENT)(head)


def test_audio_refuses_a_pdf_with_an_audio_name() -> None:
    with pytest.raises(UnsupportedMediaType, match="application/pdf"):
        checker_for(UploadKind.VISIT_AUDIO)(b"%PDF-1.4\n" + b"\x00" * 32)


@pytest.mark.parametrize(
    "head",
    [
        b"GIF89a" + b"\x00" * 32,
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32,
        b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32,
        b"\x00" * 128 + b"DICM" + b"\x00" * 32,
        b"Lab report\r\nALT: 42 U/l\n",
    ],
    ids=["gif", "webp", "tiff", "dicom", "text"],
)
def test_attachments_are_pdf_png_or_jpeg_only(head: bytes) -> None:
    """API.md: record attachments are PDF, PNG or JPEG, judged by content."""
    with pytest.raises(UnsupportedMediaType):
        checker_for(UploadKind.RECORD_ATTACHMENT)(head)
