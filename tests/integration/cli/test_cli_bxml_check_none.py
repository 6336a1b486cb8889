"""`switchboard bxml check` on what bandwidth-sdk 15.0.0 to 16.0.0 writes: attributes left unset
come out as "None". A warning for each, and the document still passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# bandwidth-sdk 15.0.0's Response([Gather(gather_url="/gathered", terminating_digits="#",
# audio_verbs=[SpeakSentence("Press a digit")])]).to_bxml(), byte for byte.
SDK_15_GATHER = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<Response><Gather gatherUrl="/gathered" terminatingDigits="#" maxDigits="None" '
    'interDigitTimeout="None" firstDigitTimeout="None" repeatCount="None">'
    "<SpeakSentence>Press a digit</SpeakSentence></Gather></Response>"
)
WARNING = (
    '="None" is read as unset, so its default applies (bandwidth-sdk 15.0.0 to 16.0.0 writes '
    "unset attributes that way; upgrade it)"
)


def check(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "bxml", "check", str(path), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_each_none_attribute_is_a_warning_and_the_document_passes(tmp_path: Path) -> None:
    document = tmp_path / "answer.xml"
    document.write_text(SDK_15_GATHER)
    result = check(document)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f"{document}: line 2, column 11: warning: <Gather> {name}{WARNING}"
        for name in ("maxDigits", "interDigitTimeout", "firstDigitTimeout", "repeatCount")
    ] + [f"{document}: OK, 4 warning(s)"]


def test_warnings_are_listed_beside_problems_which_still_fail(tmp_path: Path) -> None:
    document = tmp_path / "put.xml"
    document.write_text(
        '<Bxml>\n  <Ring duration="None" answerCall="None"/>\n  <Dance/>\n</Bxml>\n'
    )
    result = check(document, "--root", "Bxml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{document}: line 3, column 3: <Dance> is not a BXML verb",
        f"{document}: line 2, column 3: warning: <Ring> duration{WARNING}",
        f"{document}: line 2, column 3: warning: <Ring> answerCall{WARNING}",
        "1 problem(s)",
    ]
