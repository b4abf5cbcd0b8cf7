"""The translations: every UI string extracted, German complete, compiled files up to date.

Sources live in ``translations/`` (what translators edit, see scripts/babel.sh); OctoPrint
reads ``octoprint_pifocus/translations/<lang>/LC_MESSAGES/``: the ``.mo`` for Python and
Jinja, the ``.po`` for the JavaScript view models. These tests fail when a string was added
without re-extracting, when a German translation is missing or fuzzy, when a placeholder is
lost in translation, or when the compiled files were not regenerated after an edit.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "translations"
PACKAGE_DIR = ROOT / "octoprint_pifocus" / "translations"
POT = SOURCE_DIR / "messages.pot"
LANGUAGES = sorted(p.parent.parent.name for p in SOURCE_DIR.glob("*/LC_MESSAGES/messages.po"))


def load_po(path: Path, locale=None):
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def messages(catalog) -> dict:
    """msgid -> msgstr of a catalogue, header left out."""
    return {m.id: m.string for m in catalog if m.id}


def test_german_is_there():
    assert "de" in LANGUAGES


def test_template_has_every_string_of_the_sources():
    """Extracting again (babel.cfg: Python, Jinja, JS) gives exactly the committed template."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    fresh = {message for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map)}
    committed = set(messages(load_po(POT)))
    # Both lists are shown on failure; the fix is `scripts/babel.sh all` and translating.
    assert sorted(fresh - committed) == [], "strings missing from translations/messages.pot"
    assert sorted(committed - fresh) == [], "strings in translations/messages.pot gone from the sources"


def test_ui_strings_from_every_kind_of_source_are_in_the_template():
    catalog = load_po(POT)
    files = {location[0] for m in catalog if m.id for location in m.locations}
    for script in ("pifocus_sidebar.js", "pifocus_settings.js", "pifocus_shared.js", "pifocus_wizard.js"):
        assert "octoprint_pifocus/static/js/" + script in files
    assert "octoprint_pifocus/templates/pifocus_sidebar.jinja2" in files
    assert "octoprint_pifocus/templates/pifocus_settings.jinja2" in files
    assert any(f.startswith("octoprint_pifocus/plugin/") and f.endswith(".py") for f in files)
    ids = messages(catalog)
    for text in ("Autofocus",  # Jinja (sidebar button)
                 "Coarse search",  # JS (phase of the progress bar)
                 "Region of interest",  # Jinja (settings)
                 "PiFocus simulated camera"):  # Python (webcam name)
        assert text in ids


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_is_translated(lang):
    template = messages(load_po(POT))
    catalog = load_po(SOURCE_DIR / lang / "LC_MESSAGES" / "messages.po", locale=lang)
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy: pybabel compile would skip it"
    translated = {m.id: m for m in catalog if m.id}
    missing = [msgid for msgid in template if msgid not in translated]
    assert not missing, f"not in the {lang} catalogue (scripts/babel.sh update): {missing}"
    empty = [msgid for msgid, m in translated.items() if not m.string]
    assert not empty, f"untranslated in {lang}: {empty}"
    fuzzy = [msgid for msgid, m in translated.items() if "fuzzy" in m.flags]
    assert not fuzzy, f"fuzzy (check, then remove the flag) in {lang}: {fuzzy}"
    stale = [msgid for msgid in translated if msgid not in template]
    assert not stale, f"no longer in the sources (scripts/babel.sh update): {stale}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_survive_translation(lang):
    """Babel's checks: the same %(name)s placeholders in msgid and msgstr."""
    catalog = load_po(SOURCE_DIR / lang / "LC_MESSAGES" / "messages.po", locale=lang)
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems


@pytest.mark.parametrize("lang", LANGUAGES)
def test_package_catalogues_match_the_sources(lang):
    """The .po copy and the compiled .mo in the package are those of translations/<lang>."""
    source = SOURCE_DIR / lang / "LC_MESSAGES" / "messages.po"
    package = PACKAGE_DIR / lang / "LC_MESSAGES"
    assert (package / "messages.po").read_bytes() == source.read_bytes(), \
        "the package's .po copy is stale: scripts/babel.sh compile"

    # Compile the source again (as scripts/babel.sh does) and compare what the catalogues say.
    compiled = io.BytesIO()
    write_mo(compiled, load_po(source, locale=lang))
    compiled.seek(0)
    with open(package / "messages.mo", "rb") as f:
        shipped = messages(read_mo(f))
    fresh = messages(read_mo(compiled))
    assert shipped == fresh, "the package's .mo is stale: scripts/babel.sh compile"


def test_pybabel_compiles_the_german_catalogue(tmp_path):
    out = tmp_path / "messages.mo"
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "compile", "-l", "de",
         "-i", str(SOURCE_DIR / "de" / "LC_MESSAGES" / "messages.po"), "-o", str(out)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000


def test_gettext_reads_the_shipped_german_catalogue():
    """What flask_babel does for Python and Jinja: the package's .mo through gettext."""
    import gettext

    translation = gettext.translation("messages", localedir=str(PACKAGE_DIR), languages=["de"])
    assert translation.gettext("Autofocus") == "Autofokus"
    assert translation.gettext("Coarse search") == "Grobsuche"
