"""The plugin class OctoPrint instantiates: mixins only, logic lives in the engine and helpers.

Helpers: :mod:`.webcams` (OctoPrint's webcams as frame sources), :mod:`.simulation` (the
simulated lens and camera), :mod:`.simcam` (the simulated camera's HTTP routes).
"""
from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any, Dict, Optional

import flask
from flask_babel import gettext

import octoprint.plugin
from octoprint.access.permissions import Permissions
from octoprint.schema.webcam import RatioEnum, Webcam, WebcamCompatibility
from octoprint.webcams import WebcamNotAbleToTakeSnapshotException

from .. import __version__
from ..errors import PiFocusError
from . import simcam
from .simulation import Simulation, SimulationSettings, printer_z_source
from .webcams import OctoPrintWebcams

#: The name of PiFocus's simulated webcam in OctoPrint's webcam list.
SIMULATED_WEBCAM = "pifocus_simulated"

#: Settings layout version; on_settings_migrate upgrades older ones.
SETTINGS_VERSION = 1


def _error(status: int, message: str):
    return flask.make_response(flask.jsonify(error=message), status)


def parse_position(data: Dict[str, Any]) -> float:
    """The ``position`` of an API command as a number; ``ValueError`` with the reason."""
    if "position" not in data:
        raise ValueError("missing 'position'")
    value = data["position"]
    if isinstance(value, bool):
        raise ValueError(f"'position' must be a number, not {value!r}")
    try:
        position = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'position' must be a number, not {value!r}") from None
    if position != position or position in (float("inf"), float("-inf")):
        raise ValueError(f"'position' must be a finite number, not {value!r}")
    return position


class PiFocusPlugin(
    octoprint.plugin.SettingsPlugin,
    octoprint.plugin.StartupPlugin,
    octoprint.plugin.TemplatePlugin,
    octoprint.plugin.AssetPlugin,
    octoprint.plugin.WebcamProviderPlugin,
    octoprint.plugin.BlueprintPlugin,
    octoprint.plugin.SimpleApiPlugin,
):
    def __init__(self) -> None:
        self._simulation: Optional[Simulation] = None
        self._simulation_lock = threading.Lock()
        self._simulation_error: Optional[str] = None
        self.webcams: Optional[OctoPrintWebcams] = None

    # ~~ StartupPlugin mixin

    def on_startup(self, host, port):
        self.webcams = OctoPrintWebcams(port, host=host)

    def on_after_startup(self):
        self._logger.info("PiFocus %s loaded, simulation %s", __version__,
                          "on" if self._simulation_enabled() else "off")

    # ~~ SettingsPlugin mixin

    def get_settings_defaults(self):
        return {
            "measure": "tenengrad",
            "roi": [0.25, 0.25, 0.5, 0.5],
            "camera": {
                # An OctoPrint webcam by name; empty: OctoPrint's snapshot webcam.
                "webcam": "",
                # "snapshot": through the webcam's provider; "stream": its MJPEG stream.
                "mode": "snapshot",
                # Seconds to wait after a move, and frames to drop, before a frame counts
                # (0.25 s: the engine's default, octoprint_pifocus.sources.DEFAULT_SETTLE).
                "settle": 0.25,
                "discard": 0,
                # A camera URL instead of an OctoPrint webcam (snapshot or stream).
                "url": "",
            },
            "simulation": asdict(SimulationSettings()),
        }

    def get_settings_version(self):
        return SETTINGS_VERSION

    def on_settings_migrate(self, target, current):
        # Version 1 is the first layout: nothing older to convert yet.
        if current is not None and current < target:
            self._logger.info("Settings migrated from version %s to %s", current, target)

    def on_settings_save(self, data):
        result = octoprint.plugin.SettingsPlugin.on_settings_save(self, data)
        self._reset_simulation()
        return result

    # ~~ TemplatePlugin mixin

    def get_template_configs(self):
        configs = [
            # Bound to PiFocusViewModel (static/js/pifocus.js); shown to logged-in users, the
            # controls inside say why they are disabled (permission, no lens, print running).
            {
                "type": "sidebar",
                "name": "PiFocus",
                "icon": "fas fa-crosshairs",
                "template": "pifocus_sidebar.jinja2",
                "custom_bindings": True,
                "data_bind": "visible: loginState.loggedIn()",
            },
            # Bound to PiFocusSettingsViewModel.
            {
                "type": "settings",
                "name": "PiFocus",
                "template": "pifocus_settings.jinja2",
                "custom_bindings": True,
            },
        ]
        if self._simulation_enabled():
            # OctoPrint's Control tab shows only webcams that bring a "webcam" template.
            configs.append({
                "type": "webcam",
                "name": gettext("PiFocus simulated camera"),
                "template": "pifocus_simcam.jinja2",
                "custom_bindings": True,
            })
        return configs

    def get_template_vars(self):
        return {"simcam_stream": simcam.STREAM_URL}

    # ~~ AssetPlugin mixin

    def get_assets(self):
        return {"js": ["js/pifocus.js"], "css": ["css/pifocus.css"]}

    def is_template_autoescaped(self):
        return True

    # ~~ WebcamProviderPlugin mixin

    def get_webcam_configurations(self):
        if not self._simulation_enabled():
            return []
        settings = self._simulation_settings()
        ratio = (RatioEnum.four_three if settings and settings.width * 3 == settings.height * 4
                 else RatioEnum.sixteen_nine)
        return [
            Webcam(
                name=SIMULATED_WEBCAM,
                displayName=gettext("PiFocus simulated camera"),
                canSnapshot=True,
                snapshotDisplay=gettext("Rendered by PiFocus at the simulated lens position"),
                compat=WebcamCompatibility(
                    stream=simcam.STREAM_URL,
                    streamRatio=ratio,
                    snapshot=simcam.SNAPSHOT_URL,
                ),
                extras={"simulation": settings.lens if settings else None},
            )
        ]

    def take_webcam_snapshot(self, webcamName):
        if webcamName != SIMULATED_WEBCAM:
            raise WebcamNotAbleToTakeSnapshotException(webcamName)
        frame = self._simcam_frame()
        if frame is None:
            raise WebcamNotAbleToTakeSnapshotException(webcamName)
        return iter([frame])

    # ~~ BlueprintPlugin mixin

    @octoprint.plugin.BlueprintPlugin.route("/" + simcam.SNAPSHOT_ROUTE, methods=["GET"])
    def simcam_snapshot(self):
        if not Permissions.WEBCAM.can():
            return _error(403, gettext("You need the Webcam permission to see the camera."))
        frame = self._simcam_frame()
        if frame is None:
            return _error(404, self._simulation_off_message())
        return flask.Response(frame, mimetype="image/jpeg",
                              headers={"Cache-Control": simcam.NO_CACHE})

    def is_blueprint_protected(self):
        return True

    def is_blueprint_csrf_protected(self):
        return True

    # ~~ SimpleApiPlugin mixin

    def get_api_commands(self):
        return {"move": ["position"]}

    def on_api_command(self, command, data):
        if command == "move":
            # Only the simulated VCM for now; issue 5 brings lens drivers and PiFocus's own
            # permissions. Until then moving is for administrators.
            if not Permissions.ADMIN.can():
                return _error(403, gettext("Moving the lens needs administrator rights."))
            return self._api_move(data)
        return _error(400, gettext("Unknown command: %(command)s", command=command))

    def is_api_protected(self):
        return True

    def _api_move(self, data):
        try:
            position = parse_position(data)
        except ValueError as exc:
            return _error(400, str(exc))
        simulation = self.simulation()
        if simulation is None:
            return _error(409, self._simulation_off_message())
        if simulation.mode != "vcm":
            return _error(409, gettext("The simulated lens is the printer's Z; move it with G-code."))
        try:
            simulation.move(position)
        except PiFocusError as exc:
            return _error(400, str(exc))
        return flask.jsonify(simulation.status())

    # ~~ octoprint.server.http.routes hook

    def route_hook(self, server_routes, *args, **kwargs):
        return [(
            r"/" + simcam.STREAM_ROUTE,
            simcam.SimcamStreamHandler,
            {
                "frame": self._simcam_frame,
                "fps": self._simcam_fps,
                "access_validation": simcam.camera_access_validation(self._plugin_manager),
            },
        )]

    # ~~ hooks

    def hooks(self) -> dict:
        return {"octoprint.server.http.routes": self.route_hook}

    # ~~ simulation

    def _simulation_enabled(self) -> bool:
        return bool(self._settings.get_boolean(["simulation", "enabled"]))

    def _simulation_settings(self) -> Optional[SimulationSettings]:
        try:
            return SimulationSettings.from_dict(self._settings.get(["simulation"], merged=True))
        except ValueError as exc:
            if self._simulation_error != str(exc):
                self._logger.error("Simulation settings rejected: %s", exc)
            self._simulation_error = str(exc)
            return None

    def _simulation_off_message(self) -> str:
        if self._simulation_error and self._simulation_enabled():
            return gettext("The PiFocus simulation is misconfigured: %(error)s", error=self._simulation_error)
        return gettext("The PiFocus simulation is off (setting simulation.enabled).")

    def simulation(self) -> Optional[Simulation]:
        """The running simulation, created on first use; None while it is off."""
        if not self._simulation_enabled():
            return None
        with self._simulation_lock:
            if self._simulation is None:
                settings = self._simulation_settings()
                if settings is None:
                    return None
                source = printer_z_source(self._printer) if settings.lens == "printer_z" else None
                self._simulation = Simulation(settings, position_source=source)
                self._simulation_error = None
                self._logger.info("Simulated camera ready: %s", self._simulation.status())
            return self._simulation

    def _reset_simulation(self) -> None:
        """Rebuild the simulation from the settings on next use, keeping the VCM where it is."""
        with self._simulation_lock:
            old, self._simulation = self._simulation, None
        if old is not None and self._simulation_enabled():
            settings = self._simulation_settings()
            if settings is not None:
                source = printer_z_source(self._printer) if settings.lens == "printer_z" else None
                with self._simulation_lock:
                    self._simulation = Simulation(settings, position_source=source,
                                                  lens_position=old.lens.position)

    def _simcam_frame(self) -> Optional[bytes]:
        simulation = self.simulation()
        return simulation.frame() if simulation is not None else None

    def _simcam_fps(self) -> float:
        simulation = self._simulation
        return simulation.settings.fps if simulation is not None else SimulationSettings.fps
