"""The engine's messages: a code and parameters, English for logs, German where the user reads it.

Every code of the catalogue must have a German translation that keeps its placeholders, real
drivers and frame sources must raise coded errors whose ``str()`` stays the English sentence
the logs and the command line show, and a password in a URL parameter must not appear in
any language. The plugin's boundary (plugin/i18n.py) is checked with the compiled German
catalogue, the one OctoPrint loads.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from fakes.fake_smbus import DW9714Model, FakeI2C

from octoprint_pifocus.errors import CameraError, LensError, MoveRefused, PiFocusError
from octoprint_pifocus.lenses import I2CVCMLens
from octoprint_pifocus.messages import CATALOGUE, LABELS, Message, known, say
from octoprint_pifocus.plugin import i18n
from octoprint_pifocus.sources.snapshot import SnapshotSource

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"
MO = ROOT / "octoprint_pifocus" / "translations"

#: English names that are the same in German (software names).
SAME_IN_GERMAN = {"camera-streamer"}

PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


@pytest.fixture(scope="module")
def german_po():
    with open(PO, "rb") as f:
        return {m.id: m for m in read_po(f, locale="de") if m.id}


@pytest.fixture(scope="module")
def german():
    """gettext of the compiled German catalogue, as OctoPrint loads it."""
    return Translations.load(str(MO), ["de"]).gettext


@pytest.mark.parametrize("code", sorted(CATALOGUE) + [f"label:{k}" for k in sorted(LABELS)])
def test_every_code_has_a_german_translation_with_the_same_placeholders(code, german_po):
    template = LABELS[code[6:]] if code.startswith("label:") else CATALOGUE[code]
    entry = german_po.get(template)
    assert entry is not None, f"{code}: {template!r} is not in the German catalogue (scripts/babel.sh all)"
    assert entry.string, f"{code}: no German msgstr"
    assert not entry.fuzzy, f"{code}: still fuzzy"
    if template not in SAME_IN_GERMAN:
        assert entry.string != template, f"{code}: the German msgstr is the English text"
    assert sorted(PLACEHOLDER.findall(entry.string)) == sorted(PLACEHOLDER.findall(template)), code


def test_templates_use_only_named_text_placeholders():
    """JavaScript formats them with _.sprintf and Python with %: both agree on %(name)s."""
    for code, template in CATALOGUE.items():
        rest = PLACEHOLDER.sub("", template)
        assert "%" not in rest, f"{code}: a placeholder other than %(name)s in {template!r}"


def test_a_coded_error_is_english_text_with_its_code_and_parameters():
    exc = LensError("i2c.no_buses", dir="/dev")
    assert str(exc) == (
        "No I2C buses (i2c-N) in /dev. Enable the camera's I2C bus: on a Pi 3 dtparam=i2c_vc=on "
        "in /boot/config.txt (bus 0); on a Pi 4/5 it is bus 10 (some setups need dtparam=i2c10=on).")
    assert exc.code == "i2c.no_buses"
    assert exc.params == {"dir": "/dev"}
    assert exc.args == (str(exc),)


def test_the_plain_english_form_still_works_and_finds_a_recent_message_again():
    plain = PiFocusError("Something odd happened.")
    assert str(plain) == "Something odd happened." and plain.code is None and plain.params == {}
    # The plugin wraps engine errors by their text (Unavailable(str(exc))): the code survives.
    original = MoveRefused("printer.not_connected")
    wrapped = PiFocusError(str(original))
    assert wrapped.code == "printer.not_connected"
    with pytest.raises(TypeError):
        PiFocusError("not a code", what="x")


def test_a_real_driver_raises_coded_errors_that_read_as_before(tmp_path, german):
    world = FakeI2C(dev_dir=str(tmp_path))
    with pytest.raises(LensError) as info:
        I2CVCMLens(bus=3, bus_factory=world.factory, dev_dir=world.dev_dir)
    exc = info.value
    assert exc.code == "i2c.no_device"
    assert str(exc).startswith(f"{tmp_path}/i2c-3 does not exist. Enable the camera's I2C bus")
    in_german = exc.msg.render(german)
    assert in_german.startswith(f"{tmp_path}/i2c-3 existiert nicht. Aktivieren Sie den I2C-Bus")

    chip = DW9714Model()
    world.add_bus(10, {0x0C: chip})
    lens = I2CVCMLens(bus=10, bus_factory=world.factory, dev_dir=world.dev_dir, sleep=lambda s: None)
    chip.powered = False
    with pytest.raises(LensError) as info:
        lens.move_to(100)
    exc = info.value
    assert exc.code == "i2c.tried"
    assert str(exc).startswith(f"No lens driver answered at 0x0C on {tmp_path}/i2c-10. The lens is powered")
    assert str(exc).endswith("(tried 5 times)")
    in_german = exc.msg.render(german)
    assert in_german.startswith(f"Unter 0x0C auf {tmp_path}/i2c-10 hat kein Objektivtreiber geantwortet. "
                                "Das Objektiv hat nur Strom, während die Kamera streamt")
    assert in_german.endswith("(5 Versuche)")
    assert "The lens" not in in_german


def test_a_camera_url_password_is_masked_in_every_language(german):
    """A camera that refuses connections, at a URL with a password: the message names the URL
    without its password, in English, in German, and in what the browser gets."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    source = SnapshotSource(f"http://admin:s3cret@127.0.0.1:{port}/snapshot?pwd=hunter2", timeout=2)
    with pytest.raises(CameraError) as info:
        source.capture()
    exc = info.value
    assert exc.code == "camera.refused"
    described = exc.msg.to_dict()
    for text in (str(exc), exc.msg.render(german), repr(described), repr(i18n.annotate({"error": str(exc)}))):
        assert "s3cret" not in text and "hunter2" not in text
        assert "admin:***@127.0.0.1" in text
    assert exc.msg.render(german).startswith("Keine Verbindung zur Kamera unter http://admin:***@127.0.0.1:")
    # A parameter given with its password is masked when the message is made.
    assert "s3cret" not in str(Message("camera.timeout", url="http://u:s3cret@cam/x", seconds="2"))


def test_the_boundary_annotates_and_localizes_engine_messages(german):
    exc = MoveRefused("lens.outside_range", position="2000", low="0", high="1023", units="codes",
                      where=say("i2c.where", chip="dw9714", address="0C", path="/dev/i2c-10"))
    status = {"lens_error": str(exc), "driver": "i2c", "driver_name": "I2C VCM",
              "last_result": {"message": "a user's free text"},
              "devices": [{"z_blocked": str(exc)}]}
    annotated = i18n.annotate(status)
    assert annotated["lens_error"] == str(exc)  # the English text stays
    assert annotated["lens_error_code"] == "lens.outside_range"
    assert annotated["lens_error_template"] == CATALOGUE["lens.outside_range"]
    # The lens's name is a message itself, translated with the rest.
    assert annotated["lens_error_params"]["where"]["code"] == "i2c.where"
    assert annotated["devices"][0]["z_blocked_code"] == "lens.outside_range"
    assert "message_code" not in annotated["last_result"]  # not an engine message: left alone

    localized = i18n.localize(annotated, german)
    assert localized["lens_error"] == ("Die Position 2000 liegt außerhalb des Bereichs 0..1023 codes von "
                                       "dw9714 unter 0x0C auf /dev/i2c-10; es wurde nichts bewegt.")
    assert localized["driver_name"] == "I2C-VCM"
    assert localized["last_result"]["message"] == "a user's free text"
    assert {"device": "PiFocus simulation", "chip": "simulated VCM"} != i18n.localize(
        {"device": "PiFocus simulation", "chip": "simulated VCM"}, german)
    assert i18n.localize({"device": "PiFocus simulation", "chip": "simulated VCM"}, german) == {
        "device": "PiFocus-Simulation", "chip": "simulierter VCM"}


def test_a_broken_translation_falls_back_to_english():
    message = Message("camera.refused", url="http://cam/")
    assert i18n.translated(message, lambda template: "Kamera %(nope)s") == str(message)


def test_known_finds_only_recent_message_texts():
    text = say("autofocus.cancelled")
    assert known(text) == Message("autofocus.cancelled")
    assert known("Autofocus cancelled. And more.") is None
    assert known(None) is None


def test_engine_messages_quoted_in_a_plugin_sentence_are_translated_too(german):
    """A settings check quotes the engine's reason ("camera.url is not usable: URL ... is not
    valid..."): the API translates the quoted message as well."""
    from octoprint_pifocus.sources.web import split_url

    with pytest.raises(ValueError) as info:
        split_url(f"http://admin:{'pw'}@cam.local:99999999/x")
    reason = str(info.value)
    assert reason.startswith("URL 'http://admin:***@cam.local:99999999/x' is not valid: its host or port")
    assert known(reason).code == "url.unreadable"
    sentence = f"camera.url ist nicht verwendbar: {reason}"  # the plugin's gettext, already German
    assert i18n.text(sentence, german) == (
        "camera.url ist nicht verwendbar: URL 'http://admin:***@cam.local:99999999/x' ist nicht gültig: "
        "Host oder Port lassen sich nicht lesen. Ein Passwort mit # ? / oder @ funktioniert so, wie es ist; "
        "prüfen Sie sonst Host und Port.")
    # And inside an engine message: the camera's bad URL, in German all through.
    with pytest.raises(CameraError) as info:
        SnapshotSource("http://cam.local/a b")
    assert info.value.msg.render(german).startswith("Kamera-URL 'http://cam.local/a b' enthält ein Leerzeichen: "
                                                    "Schreiben Sie es als %20.")
    assert str(info.value).startswith("The camera URL 'http://cam.local/a b' contains a space: write it as %20.")


@pytest.mark.parametrize("line, code, german_start", [
    ("SET abc", "gcode.not_a_number", "@PIFOCUS SET nimmt"),
    ("AUTOFOCUS SLOW", "gcode.autofocus_mode", "@PIFOCUS AUTOFOCUS nimmt"),
    ("JUMP 3", "gcode.unknown_action", "Unbekannte @PIFOCUS-Aktion"),
    ("SET 1 DEVICE=a DEVICE=b", "gcode.one_device", "@PIFOCUS nimmt genau ein DEVICE="),
])
def test_a_bad_atcommand_is_a_coded_message_a_german_browser_reads_in_german(line, code, german_start, german):
    """@PIFOCUS lines are parsed on OctoPrint's comm thread, where no reader's language is
    known: the refusal goes out as a code, and each browser translates it."""
    from octoprint_pifocus.plugin.automation import parse_atcommand
    with pytest.raises(ValueError) as info:
        parse_atcommand(line)
    message = known(str(info.value))
    assert message is not None and message.code == code
    pushed = i18n.annotate({"message": str(info.value)})
    assert pushed["message_code"] == code and pushed["message"] == str(info.value)
    assert message.render(german).startswith(german_start), message.render(german)


def test_a_busy_device_says_so_in_the_readers_language(german):
    from octoprint_pifocus.plugin.device.jobs import job_name
    message = Message("device.busy", what=job_name("autofocus"))
    assert str(message) == "PiFocus is busy (an autofocus is running); try again when it is done."
    assert "Autofokus" in message.render(german) and "PiFocus is busy" not in message.render(german)
