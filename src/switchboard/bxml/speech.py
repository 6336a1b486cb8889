"""Text to speech as Bandwidth documents it: the voices, the locales and the SSML inside
<SpeakSentence>, rendered both as SSML (for a TTS engine) and as plain text (for durations, logs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from .attributes import InvalidValue
from .xmltree import Element, Text

# voice -> (locale, gender), from Bandwidth's table of supported voices.
VOICES: dict[str, tuple[str, str]] = {
    "julie": ("en_US", "female"),
    "kate": ("en_US", "female"),
    "susan": ("en_US", "female"),
    "dave": ("en_US", "male"),
    "paul": ("en_US", "male"),
    "bridget": ("en_UK", "female"),
    "simon": ("en_UK", "male"),
    "katrin": ("de", "female"),
    "stefan": ("de", "male"),
    "esperanza": ("es", "female"),
    "violeta": ("es", "female"),
    "jorge": ("es", "male"),
    "rosa": ("es_MX", "female"),
    "jolie": ("fr", "female"),
    "bernard": ("fr", "male"),
    "paola": ("it", "female"),
    "luca": ("it", "male"),
    "masako": ("ja", "female"),
    "kenji": ("ja", "male"),
    "nadiya": ("ru", "female"),
    "anatoli": ("ru", "male"),
    "zeina": ("arb", "female"),
    "zhiyu": ("cmn-CN", "female"),
    "ruth": ("en_US", "female"),
    "stephen": ("en_US", "male"),
    "lupe": ("es_US", "female"),
    "pedro": ("es_US", "male"),
    "gabrielle": ("fr_CA", "female"),
    "liam": ("fr_CA", "male"),
}
LOCALES = frozenset(locale for locale, _ in VOICES.values())

# The SSML tags Bandwidth supports, with the attributes each one takes.
SSML_TAGS: dict[str, frozenset[str]] = {
    "break": frozenset({"strength", "time"}),
    "emphasis": frozenset({"level"}),
    "lang": frozenset({"xml:lang"}),
    "p": frozenset(),
    "phoneme": frozenset({"ph"}),
    "prosody": frozenset({"pitch", "rate", "volume"}),
    "s": frozenset(),
    "say-as": frozenset({"interpret-as", "format"}),
    "sub": frozenset({"alias"}),
}
# Tags that separate words: "<s>One</s><s>Two</s>" reads "One Two", not "OneTwo".
_SEPARATING_TAGS = frozenset({"break", "p", "s"})
_WHITESPACE = re.compile(r"\s+")

Report = Callable[[str, Element | Text], None]


def voice(raw: str, _base_url: str | None) -> str:
    """The `voice` attribute: one of Bandwidth's voices, in any case ("Kate" is kate)."""
    value = raw.strip().lower()
    if value not in VOICES:
        raise InvalidValue(f"must be one of Bandwidth's voices: {', '.join(VOICES)}")
    return value


def locale(raw: str, _base_url: str | None) -> str:
    value = raw.strip()
    if value not in LOCALES:
        raise InvalidValue(f"must be one of {', '.join(sorted(LOCALES))}")
    return value


def voice_profile(voice: str | None, gender: str, locale: str) -> tuple[str, str]:
    """The (gender, locale) that will speak: a named voice overrides both, as Bandwidth says."""
    if voice is not None and voice in VOICES:
        voice_locale, voice_gender = VOICES[voice]
        return voice_gender, voice_locale
    return gender, locale


def render(element: Element, report: Report) -> tuple[str, str]:
    """A <SpeakSentence>'s content as (SSML fragment, plain text); bad SSML goes to `report`."""
    ssml: list[str] = []
    plain: list[str] = []
    _render_children(element, ssml, plain, report)
    return "".join(ssml).strip(), _WHITESPACE.sub(" ", "".join(plain)).strip()


def _render_children(element: Element, ssml: list[str], plain: list[str], report: Report) -> None:
    for child in element.children:
        if isinstance(child, Text):
            ssml.append(escape(child.value))
            plain.append(child.value)
            continue
        allowed = SSML_TAGS.get(child.name)
        if allowed is None:
            report(
                f"<{child.name}> is not an SSML tag Bandwidth supports in <SpeakSentence> "
                f"(supported: {', '.join(sorted(SSML_TAGS))})",
                child,
            )
            continue
        for name in child.attributes:
            if name not in allowed:
                expected = ", ".join(sorted(allowed)) or "none"
                report(
                    f"SSML <{child.name}> has no attribute {name!r} (attributes: {expected})",
                    child,
                )
        attributes = "".join(f" {k}={quoteattr(v)}" for k, v in child.attributes.items())
        separator = " " if child.name in _SEPARATING_TAGS else ""
        plain.append(separator)
        if child.children:
            ssml.append(f"<{child.name}{attributes}>")
            _render_children(child, ssml, plain, report)
            ssml.append(f"</{child.name}>")
        else:
            ssml.append(f"<{child.name}{attributes}/>")
        plain.append(separator)
