"""Object storage adapters (local folder, S3) and content sniffing."""

from vetchart.adapters.storage.local import LocalObjectStorage, verify_signature
from vetchart.adapters.storage.s3 import S3ObjectStorage
from vetchart.adapters.storage.sniff import checker_for, detect_mime

__all__ = [
    "LocalObjectStorage",
    "S3ObjectStorage",
    "checker_for",
    "detect_mime",
    "verify_signature",
]
