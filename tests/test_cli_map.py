"""``pifocus map`` (the command-line @PIFOCUS MAP) and ``pifocus:map --focus-device`` in OctoPrint."""
from __future__ import annotations

import json

import pytest

from octoprint_pifocus.cli import main
from octoprint_pifocus.followfocus import CalibrationPoint, FocusMap
from octoprint_pifocus.plugin.cli import DeviceOptionError, device_options


def stored_map():
    points = [CalibrationPoint({"y": y}, lens=300 + y, score=1.0) for y in (0.0, 50.0, 100.0)]
    return FocusMap.fit(points, ("y",), dof_width=30).to_dict()


def test_looks_up_and_says_when_it_clamps(tmp_path, capsys):
    path = tmp_path / "map.json"
    path.write_text(json.dumps(stored_map()))
    assert main(["map", "--map", str(path), "--at", "x=1,y=25"]) == 0
    assert capsys.readouterr().out.strip() == "map value 325"
    assert main(["map", "--map", str(path), "--at", "y=150"]) == 0
    assert "map value 400 (outside the calibrated range in Y" in capsys.readouterr().out


def test_moves_a_lens_to_the_maps_value(tmp_path, capsys):
    path = tmp_path / "map.json"
    path.write_text(json.dumps(stored_map()))
    assert main(["map", "--map", str(path), "--at", "y=70", "--driver", "simulated"]) == 0
    assert "moved to 370, the map's value" in capsys.readouterr().out


def test_bad_input_says_what_to_do(tmp_path, capsys):
    path = tmp_path / "map.json"
    path.write_text("not json")
    assert main(["map", "--map", str(path), "--at", "y=1"]) == 1
    assert "not JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["map", "--map", str(path), "--at", "w=1"])
    assert "--at takes x=..,y=..,z=.." in capsys.readouterr().err


def test_focus_device_passes_its_stored_map():
    stored = {"devices": [{"id": "camera", "name": "Camera", "driver": "v4l2", "focus_map": stored_map()},
                          {"id": "bare", "name": "Bare", "driver": "simulated"}]}
    options = device_options(stored, "camera", "map")
    assert options[0] == "--map-json" and json.loads(options[1])["axes"] == ["y"]
    assert options[2:] == ["--driver", "v4l2"]
    with pytest.raises(DeviceOptionError, match="has no focus map: calibrate one"):
        device_options(stored, "bare", "map")
