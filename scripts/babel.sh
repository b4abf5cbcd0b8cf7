#!/bin/sh
# PiFocus translations with pybabel (Babel comes with OctoPrint).
#
#   scripts/babel.sh extract      strings from Python, Jinja and JS -> translations/messages.pot
#   scripts/babel.sh update       merge the .pot into every translations/<lang>/LC_MESSAGES/messages.po
#   scripts/babel.sh new <lang>   start a language, e.g. "fr": translations/fr/LC_MESSAGES/messages.po
#   scripts/babel.sh compile      every .po -> octoprint_pifocus/translations/<lang>/LC_MESSAGES/
#                                 messages.mo, with a copy of the .po next to it
#   scripts/babel.sh all          extract, update, compile
#
# Adding a language: `scripts/babel.sh extract`, `scripts/babel.sh new fr`, translate every
# msgstr in translations/fr/LC_MESSAGES/messages.po (remove "#, fuzzy" marks once checked),
# then `scripts/babel.sh compile` and restart OctoPrint. tests/test_translations.py checks
# that every catalogue is complete and that the compiled files match.
#
# Why two places: translations/ holds the sources translators edit. OctoPrint reads a
# plugin's catalogues from <package>/translations/: the .mo for Python and Jinja, the .po
# for the strings of the JavaScript view models (served by /static/js/i18n/...).
set -eu

cd "$(dirname "$0")/.."

if [ -n "${PYBABEL:-}" ]; then
    :
elif [ -x .venv/bin/pybabel ]; then
    PYBABEL=.venv/bin/pybabel
else
    PYBABEL=pybabel
fi

POT=translations/messages.pot
PACKAGE_DIR=octoprint_pifocus/translations

version() {
    sed -n 's/^__version__ = "\(.*\)"/\1/p' octoprint_pifocus/__init__.py | head -n 1
}

languages() {
    for po in translations/*/LC_MESSAGES/messages.po; do
        [ -f "$po" ] || continue
        lang=${po#translations/}
        echo "${lang%%/*}"
    done
}

extract() {
    # N_ (one of pybabel's default keywords) marks the engine's message templates
    # (octoprint_pifocus/messages.py): a no-op there, as the engine imports no flask_babel.
    "$PYBABEL" extract -F babel.cfg -o "$POT" \
        --project "OctoPrint-PiFocus" --version "$(version)" \
        --copyright-holder "PiFocus developers" \
        --msgid-bugs-address "https://github.com/pifocus/OctoPrint-PiFocus/issues" \
        --width 100 .
}

update() {
    if [ -z "$(languages)" ]; then
        echo "No languages yet: scripts/babel.sh new <lang>" >&2
        return 0
    fi
    "$PYBABEL" update -i "$POT" -d translations --width 100
}

new_language() {
    "$PYBABEL" init -i "$POT" -d translations -l "$1" --width 100
}

compile_all() {
    for lang in $(languages); do
        src=translations/$lang/LC_MESSAGES/messages.po
        dest=$PACKAGE_DIR/$lang/LC_MESSAGES
        mkdir -p "$dest"
        "$PYBABEL" compile --statistics -l "$lang" -i "$src" -o "$dest/messages.mo"
        cp "$src" "$dest/messages.po"
    done
}

case "${1:-}" in
    extract) extract ;;
    update) update ;;
    new)
        [ $# -eq 2 ] || { echo "usage: $0 new <lang>" >&2; exit 2; }
        new_language "$2"
        ;;
    compile) compile_all ;;
    all)
        extract
        update
        compile_all
        ;;
    *)
        sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
        exit 2
        ;;
esac
