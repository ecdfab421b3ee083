"""The demo's dictated visit recording: "The dog has been limping on the left hind leg
for three days. There is no swelling. Rest for one week, then come back for a check.",
spoken by espeak-ng (a synthetic voice; Ogg Vorbis, 22 kHz mono)."""

from __future__ import annotations

from importlib import resources

DICTATION = "visit-dictation.ogg"
DICTATION_TEXT = (
    "The dog has been limping on the left hind leg for three days. There is no swelling. "
    "Rest for one week, then come back for a check."
)


def demo_dictation() -> bytes:
    return resources.files(__name__).joinpath(DICTATION).read_bytes()
