"""No bare ``%`` in a translated template string, in English or in German.

OctoPrint's Jinja has the i18n extension in its new style: ``_('...')`` and ``gettext('...')``
%-format the (translated) string, with or without arguments. One ``50%`` in a template, or in
the German ``msgstr`` of one, raises "unsupported format character" and takes the WHOLE
settings page down, not just that line. This test reads the strings as Jinja itself extracts
them and names the file and line of every ``%`` that is neither ``%%`` nor ``%(name)s``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "octoprint_pifocus" / "templates"
GERMAN = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"

#: What Jinja's %-formatting accepts in a string called with keyword arguments.
PLACEHOLDER = re.compile(r"%(?:%|\([A-Za-z_][A-Za-z0-9_]*\)[sdifr])")


def bare_percents(text: str) -> List[int]:
    """Offsets in ``text`` of every ``%`` that is not ``%%`` or a ``%(name)s`` placeholder."""
    bad, i = [], text.find("%")
    while i >= 0:
        match = PLACEHOLDER.match(text, i)
        if match:
            i = text.find("%", match.end())
        else:
            bad.append(i)
            i = text.find("%", i + 1)
    return bad


def translated_strings(source: str) -> Iterator[Tuple[int, str]]:
    """(line, string) of every string the template passes to a gettext function."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    for line, _function, message in env.extract_translations(source):
        for text in message if isinstance(message, tuple) else (message,):
            if isinstance(text, str):
                yield line, text


def template_strings() -> List[Tuple[str, int, str]]:
    """(file, line, string) of every translated string in the plugin's templates."""
    found = []
    for path in sorted(TEMPLATES.glob("*.jinja2")):
        for line, text in translated_strings(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), line, text))
    return found


def problems_in(strings: List[Tuple[str, int, str]]) -> List[str]:
    return [f"{where}:{line}: bare % in {text!r}" for where, line, text in strings if bare_percents(text)]


def german_problems(strings: List[Tuple[str, int, str]]) -> List[str]:
    with open(GERMAN, "rb") as f:
        catalog = read_po(f, locale="de")
    out = []
    for where, line, text in strings:
        message = catalog.get(text)
        if message is None or not isinstance(message.string, str) or not bare_percents(message.string):
            continue
        out.append(f"{GERMAN.relative_to(ROOT)}:{message.lineno}: bare % in the German "
                   f"{message.string!r} of {text!r} ({where}:{line})")
    return out


@pytest.mark.parametrize("text, bad", [
    ("Saves 50% of the time", [8]),
    ("50%", [2]),
    ("%s frames", [0]),
    ("100%% sharp", []),
    ("%(count)s of %(total)d frames, 20%% off", []),
    ("%(count) frames", [0]),
    ("no percent at all", []),
])
def test_the_scanner_tells_a_bare_percent_from_a_placeholder(text, bad):
    assert bare_percents(text) == bad


def test_a_planted_bad_string_is_named_with_its_line():
    source = ("<p>{{ _('Fine') }}</p>\n"
              "<p>{{ _(\"Ends 20% sooner\") }}</p>\n"
              "<p>{{ gettext('%(n)s of %(m)s', n=1, m=2) }}</p>\n"
              "<p>{{ _('Multi-line,\n 5% here') }}</p>\n")
    strings = [("planted.jinja2", line, text) for line, text in translated_strings(source)]
    assert [text for _, _, text in strings] == ["Fine", "Ends 20% sooner", "%(n)s of %(m)s", "Multi-line,\n 5% here"]
    assert problems_in(strings) == ["planted.jinja2:2: bare % in 'Ends 20% sooner'",
                                    "planted.jinja2:4: bare % in 'Multi-line,\\n 5% here'"]


@pytest.mark.parametrize("text", ["Saves 50% of the time", "Ends 20% sooner", "5%-10% more", "100%"])
def test_a_bare_percent_breaks_or_garbles_the_page(text):
    # Why the test exists: OctoPrint's (new style) gettext %-formats every string, so a bare %
    # raises ("unsupported format character", "%o format: an integer is required") or, as
    # "20% sooner" (a "% s" conversion), prints something else.
    env = Environment(extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)
    assert env.from_string("{{ _('100%% sharp') }}").render() == "100% sharp"
    assert bare_percents(text)
    try:
        shown = env.from_string("{{ _(%r) }}" % text).render()
    except (ValueError, TypeError, KeyError):
        return
    assert shown != text


def test_the_templates_have_strings_to_check():
    strings = template_strings()
    assert len(strings) > 100
    assert any(where.endswith("pifocus_settings.jinja2") for where, _, _ in strings)


def test_no_template_string_has_a_bare_percent():
    assert problems_in(template_strings()) == []


def test_no_german_translation_of_a_template_string_has_a_bare_percent():
    assert german_problems(template_strings()) == []
