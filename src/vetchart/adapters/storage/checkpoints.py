"""Where `vetchart audit checkpoint` writes signed chain heads, and `audit verify
--against` reads them: a local file, or an S3 object (``s3://bucket/key``).

Checkpoints belong outside the database and out of reach of whoever can change it: a
bucket of its own with S3 Object Lock (default retention) or another account's bucket is
the intended S3 target. The S3 client uses the storage settings' endpoint, region,
credentials and addressing style (``VETCHART_S3_*``); only the bucket comes from the URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aioboto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from vetchart.config import StorageSettings

S3_SCHEME = "s3://"
# A checkpoint is a few kilobytes; anything far larger is not one.
MAX_CHECKPOINT_BYTES = 1024 * 1024


class CheckpointLocationError(ValueError):
    """A location that names no checkpoint (bad URL, missing object, too large)."""


def _s3_location(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise CheckpointLocationError(f"{location!r} is not s3://BUCKET/KEY")
    return bucket, key


def _client(storage: StorageSettings) -> Any:
    session = aioboto3.Session(
        aws_access_key_id=storage.s3_access_key_id,
        aws_secret_access_key=(
            storage.s3_secret_access_key.get_secret_value()
            if storage.s3_secret_access_key
            else None
        ),
        region_name=storage.s3_region,
    )
    config = Config(
        connect_timeout=storage.s3_connect_timeout_seconds,
        read_timeout=storage.s3_read_timeout_seconds,
        retries={"total_max_attempts": storage.s3_max_attempts, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path" if storage.s3_force_path_style else "auto"},
    )
    return session.client("s3", endpoint_url=storage.s3_endpoint_url, config=config)


async def write_checkpoint(location: str, text: str, storage: StorageSettings) -> None:
    """Write the checkpoint; an S3 object is never overwritten (the write fails if the
    key exists), a file is created and must not exist either."""
    data = text.encode("utf-8")
    if location.startswith(S3_SCHEME):
        bucket, key = _s3_location(location)
        try:
            async with _client(storage) as s3:
                await s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=data,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "PreconditionFailed":
                raise CheckpointLocationError(f"{location} exists already") from error
            raise CheckpointLocationError(f"{location}: {code or error}") from error
        except BotoCoreError as error:
            raise CheckpointLocationError(f"{location}: {error}") from error
        return
    with Path(location).open("xb") as handle:  # noqa: ASYNC230 - a few KB, CLI only
        handle.write(data)


async def read_checkpoint(location: str, storage: StorageSettings) -> bytes:
    if location.startswith(S3_SCHEME):
        bucket, key = _s3_location(location)
        try:
            async with _client(storage) as s3:
                answer = await s3.get_object(Bucket=bucket, Key=key)
                if int(answer.get("ContentLength") or 0) > MAX_CHECKPOINT_BYTES:
                    raise CheckpointLocationError(f"{location} is too large for a checkpoint")
                async with answer["Body"] as body:
                    data: bytes = await body.read()
                    return data
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            raise CheckpointLocationError(f"no checkpoint at {location} ({code})") from error
        except BotoCoreError as error:
            raise CheckpointLocationError(f"{location}: {error}") from error
    path = Path(location)
    try:
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:  # noqa: ASYNC240 - CLI only
            raise CheckpointLocationError(f"{location} is too large for a checkpoint")
        return path.read_bytes()  # noqa: ASYNC240 - CLI only
    except FileNotFoundError as error:
        raise CheckpointLocationError(f"no checkpoint at {location}") from error
