"""PiFocus is a real OctoPrint plugin: a running OctoPrint 1.11 loads it; the engine needs no OctoPrint."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import octoprint_pifocus


def test_running_octoprint_lists_pifocus_enabled(octoprint_server):
    r = octoprint_server.session("admin").get(
        octoprint_server.url + "/plugin/pluginmanager/plugins", timeout=30)
    assert r.status_code == 200, r.text[:300]
    plugins = {p["key"]: p for p in r.json()["plugins"]}
    assert "pifocus" in plugins, sorted(plugins)
    pifocus = plugins["pifocus"]
    assert pifocus["name"] == "PiFocus"
    assert pifocus["version"] == octoprint_pifocus.__version__
    assert pifocus["enabled"] is True
    assert pifocus["bundled"] is False
    assert pifocus["origin"] == "entry_point"
    for flag in ("incompatible", "blacklisted", "forced_disabled", "safe_mode_victim",
                 "pending_enable", "pending_disable"):
        assert not pifocus[flag], flag


def test_pifocus_implementation_is_loaded(octoprint_server):
    # The plugin object exists and runs: its settings are served and it logged its start.
    settings = octoprint_server.plugin_settings("pifocus")
    assert settings["camera"]["mode"] == "auto"
    assert settings["simulation"]["enabled"] is True
    octoprint_server.wait_for_log(f"PiFocus {octoprint_pifocus.__version__} loaded")


def test_users_have_the_groups_tests_rely_on(octoprint_server):
    def permissions(session):
        r = session.get(octoprint_server.url + "/api/currentuser", timeout=10)
        r.raise_for_status()
        return r.json()

    admin = permissions(octoprint_server.session("admin"))
    assert "ADMIN" in admin["permissions"]
    user = permissions(octoprint_server.session("user"))
    assert user["groups"] == ["users"]
    assert "ADMIN" not in user["permissions"] and "WEBCAM" in user["permissions"]
    guest = permissions(octoprint_server.session("guest"))
    assert guest["groups"] == ["guests"]
    assert "WEBCAM" not in guest["permissions"] and "CONTROL" not in guest["permissions"]
    # A browser-style login (cookie + CSRF token) works as well as API keys.
    browser = octoprint_server.login("user")
    assert permissions(browser)["name"] == "user"


def test_printer_is_connected(octoprint_server):
    assert octoprint_server.printer_state() == "Operational"


ENGINE_IMPORT = textwrap.dedent("""
    import importlib, importlib.util, json, sys
    sys.modules["octoprint"] = None  # any "import octoprint..." now raises ImportError
    imported = []
    for name in ("octoprint_pifocus", "octoprint_pifocus.focus", "octoprint_pifocus.sim",
                 "octoprint_pifocus.lenses", "octoprint_pifocus.sources", "octoprint_pifocus.cli"):
        if name == "octoprint_pifocus" or importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
    from octoprint_pifocus.cli import build_parser
    build_parser()  # imports every sub-command: score, demo, lens, autofocus
    imported.append("octoprint_pifocus.cli.*")
    from octoprint_pifocus.focus import autofocus, measure_sharpness
    from octoprint_pifocus.sim import SimulatedCamera, SimulatedLens, draw_scene
    lens = SimulatedLens(start=900)
    camera = SimulatedCamera(draw_scene(320, 180), lens, focus_position=300, blur_rate=0.05, seed=1)
    result = autofocus(lens, camera)
    leaked = sorted(m for m, mod in sys.modules.items()
                    if mod is not None and m.split(".")[0] in ("octoprint", "flask", "flask_babel", "tornado"))
    print(json.dumps({"imported": imported, "leaked": leaked, "found": result.found,
                      "position": result.position}))
""")


def test_engine_imports_and_runs_without_octoprint():
    proc = subprocess.run([sys.executable, "-c", ENGINE_IMPORT], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"octoprint_pifocus", "octoprint_pifocus.focus", "octoprint_pifocus.sim"} <= set(out["imported"])
    assert out["leaked"] == []
    assert out["found"] is True and abs(out["position"] - 300) <= 15


def test_software_update_knows_pifocus(octoprint_server):
    """OctoPrint's Software Update lists PiFocus from its hook (offline here, so no remote version)."""
    import octoprint_pifocus

    r = octoprint_server.session("admin").get(
        octoprint_server.url + "/plugin/softwareupdate/check?check=pifocus", timeout=60)
    assert r.status_code == 200, r.text
    info = r.json()["information"]["pifocus"]
    assert info["displayName"] == "PiFocus"
    assert info["displayVersion"] == octoprint_pifocus.__version__
    assert info["compatible"] is True and info["disabled"] is False
