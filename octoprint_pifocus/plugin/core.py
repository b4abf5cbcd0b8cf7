"""The plugin class OctoPrint instantiates: mixins and hooks only, the logic lives in helpers.

Helpers, all plain classes the tests can drive: :mod:`.devices` (the registry of focus devices,
found by id or name, and the printer Z they share), :mod:`.device` (one device: its lens,
camera, jobs and memory, a module each), :mod:`.automation` (``@PIFOCUS`` commands, autofocus
before a print, the webcam watchdog), :mod:`.api` (the HTTP API's rules), :mod:`.settings`
(defaults, migration, validation), :mod:`.printer_port` (the printer-Z driver's G-code port),
:mod:`.webcams` (OctoPrint's webcams as frame sources), :mod:`.simulation` and :mod:`.simcam`
(the simulated lens and camera), :mod:`.wizard` (when the set-up wizard shows, what Detect
offers), :mod:`.cli` (``octoprint plugins pifocus:...``).
"""
from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import flask
from flask_babel import gettext

import octoprint.plugin
from octoprint.access import ADMIN_GROUP, USER_GROUP
from octoprint.access.permissions import Permissions
from octoprint.events import Events
from octoprint.schema.webcam import RatioEnum, Webcam, WebcamCompatibility
from octoprint.webcams import WebcamNotAbleToTakeSnapshotException

from .. import __version__
from ..errors import PiFocusError
from ..focus.measures import DESCRIPTIONS
from ..lenses.i2c_vcm import CHIPS
from ..redact import protect_loggers, redact_data
from . import api, i18n, simcam
from . import settings as settings_rules
from . import wizard as wizard_rules
from .automation import ATCOMMAND, PrintAutomation, WebcamWatchdog
from .cli import cli_commands
from .device import FocusDevice
from .devices import DeviceRegistry, UnknownDevice
from .follow_loop import FollowLoop
from .printer_port import OctoPrintGcodePort
from .drift_watch import EVENT as DRIFT_EVENT, DriftWatch
from .simulation import Simulation, SimulationSettings, printer_z_source
from .sim_printer import PORT as PACED_PORT, PacedPort
from .simulations import Simulations, webcam_name
from .stored_settings import StoredSettings
from .toolhead import Toolhead
from .webcams import OctoPrintWebcams, stream_url

#: Settings layout version; on_settings_migrate upgrades older ones.
SETTINGS_VERSION = settings_rules.VERSION

#: Custom events, fired as plugin_pifocus_<name>.
EVENTS = ("focus_changed", "autofocus_done", "autofocus_failed")
EVENTS += (DRIFT_EVENT,)  # the drift watch's: plugin_pifocus_focus_drift

#: The Plugin Manager's events for a plugin switched off or on (payload ``id``).
PLUGIN_DISABLED_EVENT = "plugin_pluginmanager_disable_plugin"
PLUGIN_ENABLED_EVENT = "plugin_pluginmanager_enable_plugin"

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"


def _error(status: int, message: str):
    """A JSON error reply; an engine message in the request's language, with its code,
    template and parameters (plugin/i18n.py)."""
    return flask.make_response(flask.jsonify(_reply({"error": message})), status)


def _reply(body: Any) -> Any:
    """An API reply's body: engine messages in the request's language, with their code,
    template and parameters for the browser (plugin/i18n.py), passwords masked."""
    return redact_data(i18n.localize(i18n.annotate(body), gettext))


def _can_control() -> bool:
    return bool(Permissions.PLUGIN_PIFOCUS_CONTROL.can())


#: Where OctoPrint serves this plugin's SimpleApiPlugin.
API_PATH = "/api/plugin/pifocus"


def _can_admin() -> bool:
    return bool(Permissions.PLUGIN_PIFOCUS_ADMIN.can())


class PiFocusPlugin(
    octoprint.plugin.SettingsPlugin,
    octoprint.plugin.StartupPlugin,
    octoprint.plugin.ShutdownPlugin,
    octoprint.plugin.TemplatePlugin,
    octoprint.plugin.AssetPlugin,
    octoprint.plugin.EventHandlerPlugin,
    octoprint.plugin.WebcamProviderPlugin,
    octoprint.plugin.BlueprintPlugin,
    octoprint.plugin.SimpleApiPlugin,
    octoprint.plugin.WizardPlugin,
):
    def __init__(self) -> None:
        self.simulations: Optional[Simulations] = None
        self._simulation_error: Optional[str] = None
        self.stored: Optional[StoredSettings] = None
        self.webcams: Optional[OctoPrintWebcams] = None
        self.port: Optional[OctoPrintGcodePort] = None
        self.devices: Optional[DeviceRegistry] = None
        self.automation: Optional[PrintAutomation] = None
        self.watchdog: Optional[WebcamWatchdog] = None
        self.drift_watch: Optional[DriftWatch] = None
        #: Where the printer's toolhead is, from the G-code sent (follow focus, focus maps).
        self._toolhead = Toolhead()
        #: The simulation's paced virtual printer (its head is the simulated camera's truth).
        self.paced_port: Optional[PacedPort] = None
        self.follow_loop: Optional[FollowLoop] = None
        #: Why PiFocus stopped its threads while OctoPrint keeps it loaded (disabled or being
        #: uninstalled, pending a restart); None while it runs.
        self._stopped: Optional[str] = None
        #: Orders stopping against a start-up still under way (see _start_automation).
        self._lifecycle_lock = threading.Lock()
        #: Set once a stop has ended the running job: the simulated camera renders no more frames
        #: (streams end). Not at once with _stopped, so that a cancelled autofocus still sees
        #: its camera while it goes back and reports itself cancelled.
        self._frames_stopped = False
        #: The password with which PiFocus reads its own simulated stream (``simulation.stream``):
        #: made at each start, accepted from this machine only (see simcam.own_access).
        self._simcam_token = secrets.token_urlsafe(18)

    # ~~ set-up

    def initialize(self):
        # Camera URLs may carry passwords: mask them in every line PiFocus logs (see ..redact).
        protect_loggers(self._logger)
        # No printer when OctoPrint runs without one (its CLI, scripts in its plugin system).
        self.port = OctoPrintGcodePort(getattr(self, "_printer", None))
        self.stored = StoredSettings(self._settings, self._logger)
        self.paced_port = PacedPort(getattr(self, "_plugin_manager", None), self._simulation_enabled, self._logger)
        self.simulations = Simulations(self._device_drivers, self._simulation_settings,
                                       lambda: printer_z_source(self._printer), logger=self._logger,
                                       toolhead=self._toolhead_now)

    def on_settings_initialized(self):
        # After the settings migration: repair what cannot be used, build the helpers from it.
        self.stored.repair()
        self.devices = DeviceRegistry(self._make_device, logger=self._logger)
        self.devices.configure(self.stored.checked())
        self.automation = PrintAutomation(self.devices, getattr(self, "_printer", None), self.port, self._publish,
                                          logger=self._logger)
        self.watchdog = WebcamWatchdog(self.devices, logger=self._logger)
        self.drift_watch = DriftWatch(self.devices, getattr(self, "_printer", None), self.automation,
                                      self._publish, self._fire, logger=self._logger)
        self.follow_loop = FollowLoop(self.devices, logger=self._logger)

    def _make_device(self, config: Dict[str, Any], z_gate) -> FocusDevice:
        return FocusDevice(
            config, port=self.port, simulation=lambda: self.simulation(config["id"]),
            simulation_problem=self._simulation_off_message, webcams=lambda: self.webcams,
            publish=self._publish, fire=self._fire, persist=self.stored.persister(config["id"]), logger=self._logger,
            z_gate=z_gate, toolhead=self._toolhead, profile=self._printer_profile)

    def _printer_profile(self) -> Optional[Dict[str, Any]]:
        """OctoPrint's current printer profile (build volume, axis speeds), None without one."""
        manager = getattr(self, "_printer_profile_manager", None)
        try:
            return manager.get_current_or_default() if manager is not None else None
        except Exception:
            return None

    @property
    def controller(self) -> Optional[FocusDevice]:
        """The first device: what a request naming no device means."""
        return self.devices.first if self.devices is not None else None

    def _config(self) -> Dict[str, Any]:
        """The first device's settings with the global ones (the single-device layout)."""
        return settings_rules.flat(self.stored.checked())

    def _publish(self, message: Dict[str, Any]) -> None:
        self._plugin_manager.send_plugin_message(self._identifier, redact_data(i18n.annotate(message)))

    def _fire(self, name: str, payload: Dict[str, Any]) -> None:
        self._event_bus.fire(f"plugin_{self._identifier}_{name}", redact_data(i18n.annotate(payload)))
        if name in ("autofocus_done", "focus_changed") and self.drift_watch is not None:
            # A new focus: the drift watch takes its baseline again.
            self.drift_watch.focused(payload.get("device"), payload.get("message") or name)

    # ~~ StartupPlugin mixin

    def on_startup(self, host, port):
        self.webcams = OctoPrintWebcams(port, host=host, own_stream=self._simcam_own_stream)

    def on_after_startup(self):
        self._logger.info("PiFocus %s loaded, simulation %s, lens driver %r%s", __version__,
                          "on" if self._simulation_enabled() else "off", self.controller.driver,
                          "".join(f", device {d.name!r}: {d.driver!r}" for d in list(self.devices)[1:]))
        threading.Thread(target=self._start_automation, name="pifocus-startup", daemon=True).start()

    def _start_automation(self) -> None:
        """Open each device's lens, restore its position, start the watchdog: in the background,
        so a disable may come in between. Each step checks; the watchdog starts under the lock
        that _stop_background takes, so it never starts after a stop."""
        if not self.devices.start_up(lambda: self._stopped is not None):
            return
        with self._lifecycle_lock:
            if self._stopped is not None:
                return
            self.devices.publish_status()
            self.watchdog.start()
            self.drift_watch.start()
            self.follow_loop.start()

    # ~~ ShutdownPlugin mixin

    def on_shutdown(self):
        self._stop_background("shutdown")

    # ~~ disabled or uninstalled, pending OctoPrint's restart

    def on_plugin_disabled(self):
        self._stop_background("disabled")

    def on_plugin_pending_uninstall(self):
        self._stop_background("uninstalled")

    def _stop_background(self, why: str) -> None:
        """Stop every thread and timer of PiFocus. PiFocus needs a restart to unload (it adds
        routes and permissions), so after a disable or an uninstall in the Plugin Manager it
        stays loaded until then: nothing of it may keep running, polling the webcam or moving
        the lens. A running autofocus is cancelled (the lens goes back), the last position saved."""
        with self._lifecycle_lock:
            already = self._stopped
            if already is not None and why != "shutdown":
                if why == "uninstalled" and already != why:
                    # Disabled first, uninstalled now: refusals must say so from here on.
                    self._stopped = why
                    if self.devices is not None:
                        self.devices.shutdown(self._stopped_message())
                    self._logger.info("PiFocus was uninstalled (it was disabled already)")
                return
            self._stopped = why
        if why != "shutdown":
            self._logger.info("PiFocus was %s: its threads stop now, the rest goes with OctoPrint's "
                              "next restart", why)
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.drift_watch is not None:
            self.drift_watch.stop()
        if self.follow_loop is not None:
            self.follow_loop.stop()
        if self.devices is not None:
            self.devices.shutdown(self._stopped_message())
        self._frames_stopped = True
        if why != "shutdown":
            self._logger.info("PiFocus has stopped everything (%s)", why)

    def _resume_background(self) -> None:
        """Enabled again before the restart that would have unloaded it: run as before."""
        with self._lifecycle_lock:
            if self._stopped not in ("disabled",):
                return
            self._stopped = None
            self._frames_stopped = False
        if self.devices is not None:
            self.devices.resume()
        self._logger.info("PiFocus was enabled again: running as before")
        threading.Thread(target=self._start_automation, name="pifocus-startup", daemon=True).start()

    def _stopped_message(self) -> str:
        if self._stopped == "uninstalled":
            return gettext("PiFocus is being uninstalled: restart OctoPrint to finish.")
        return gettext("PiFocus is disabled and unloads when OctoPrint restarts; enable it again in the "
                       "Plugin Manager to use it.")

    # ~~ SettingsPlugin mixin

    def get_settings_defaults(self):
        return settings_rules.defaults()

    def get_settings_version(self):
        return SETTINGS_VERSION

    def on_settings_migrate(self, target, current):
        stored = self._settings.global_get(["plugins", self._identifier], incl_defaults=False)
        changes = settings_rules.migrate(stored if isinstance(stored, dict) else {}, current)
        for key, value in changes.items():
            if value is None:
                self._settings.remove([key])
            else:
                self._settings.set([key], value)
        if current != target:
            # The keys only: a camera URL may carry a password.
            self._logger.info("Settings migrated from version %s to %s%s", current, target,
                              f" (changed: {', '.join(sorted(changes))})" if changes else "")

    def on_settings_load(self):
        """The settings in force (checked), the secret paths blank without PiFocus
        administration (OctoPrint's restricted paths cannot name an entry of a list).

        Not the stored data as it is: a stored NaN cannot be sent as JSON, and OctoPrint would
        then leave PiFocus's whole section out of /api/settings.
        """
        try:
            admin = _can_admin()
        except Exception:  # no request (no user): show no secret
            admin = False
        return settings_rules.view(self.stored.checked(), admin)

    def on_settings_save(self, data):
        try:
            submitted = settings_rules.submitted_sections(data)
        except settings_rules.SettingsError as exc:
            return self._refuse_settings(exc)
        current = self._settings.get_all_data(merged=True) or {}
        if not _can_admin():
            # OctoPrint's SETTINGS permission is not enough: the lens driver, the Z window and
            # the camera are PiFocus administration. Saving other settings with the dialog's
            # unchanged PiFocus values stays silent.
            if settings_rules.changes(current, submitted):
                self._logger.warning("Settings change refused: the user lacks PLUGIN_PIFOCUS_ADMIN")
                self._publish({"type": "settings_error", "field": None, "message": gettext(
                    "PiFocus settings not saved: changing them needs the PiFocus administration "
                    "permission.")})
            return {}
        # Read, check and write under the lock the presets and last positions are written
        # under: they live in the same device list, and a save must not undo one made meanwhile.
        with self.stored.lock:
            current = self._settings.get_all_data(merged=True) or {}
            try:
                checked = settings_rules.check(settings_rules.apply_submission(current, submitted))
            except settings_rules.SettingsError as exc:
                return self._refuse_settings(exc)
            result = octoprint.plugin.SettingsPlugin.on_settings_save(
                self, {key: checked[key] for key in ("devices", "simulation")
                       if key in submitted or key == "devices"})
        change = self.devices.configure(self.stored.checked())
        if change.removed:
            # A removed device saved its last position while shutting down (settings.save()):
            # OctoPrint's own save after this one then finds nothing to write and fires no
            # SettingsUpdated, which is what tells the browsers (the sidebar's device list).
            self._event_bus.fire(Events.SETTINGS_UPDATED)
        self._reset_simulation()  # settings, devices added or removed, drivers changed
        self.devices.publish_status()  # with the simulations as they are now
        self.devices.open_in_background(change.added)
        return result

    def _refuse_settings(self, exc: "settings_rules.SettingsError") -> Dict[str, Any]:
        self._logger.warning("Settings not saved: %s (%s)", exc.message, exc.path)
        self._publish({"type": "settings_error", "field": exc.field, "path": exc.path, "device": exc.device,
                       "message": gettext("PiFocus settings not saved: %(error)s", error=exc.message)})
        return {}

    # ~~ TemplatePlugin mixin

    def get_template_configs(self):
        configs: List[Dict[str, Any]] = []
        # OctoPrint's Control tab shows only webcams that bring a "webcam" template: one per
        # simulated webcam (each device's own), so OctoPrint's webcam selector offers them all.
        for webcam in self.get_webcam_configurations():
            configs.append({
                "type": "webcam",
                "name": webcam.displayName,
                "template": "pifocus_simcam.jinja2",
                "custom_bindings": True,
                "pifocus_webcam": webcam.name,
                "pifocus_stream": webcam.compat.stream,
            })
        # The sidebar panel and settings page, once their templates exist.
        if (TEMPLATES / "pifocus_sidebar.jinja2").is_file():
            configs.append({
                "type": "sidebar",
                "name": gettext("PiFocus"),
                "icon": "fas fa-crosshairs",
                "template": "pifocus_sidebar.jinja2",
                "custom_bindings": True,
                # Every logged-in user sees the panel; without PLUGIN_PIFOCUS_CONTROL its
                # controls are disabled and say why (PiFocusViewModel.disabledReason).
                "data_bind": "visible: loginState.loggedIn()",
            })
        if (TEMPLATES / "pifocus_settings.jinja2").is_file():
            configs.append({"type": "settings", "name": gettext("PiFocus"),
                            "template": "pifocus_settings.jinja2", "custom_bindings": True})
        # The set-up: a page of OctoPrint's wizard dialog on the first start (see WizardPlugin
        # below), and the same steps in a dialog of its own for later (sidebar, settings).
        configs.append({"type": "wizard", "name": gettext("Camera focus (PiFocus)"),
                        "template": "pifocus_wizard.jinja2", "custom_bindings": True})
        configs.append({"type": "generic", "template": "pifocus_setup_dialog.jinja2", "custom_bindings": True})
        # The focus strip under the Control tab's webcam (static/js/pifocus_strip.js moves it there).
        configs.append({"type": "generic", "template": "pifocus_strip.jinja2", "custom_bindings": True})
        return configs

    def get_template_vars(self):
        return {
            "simcam_stream": simcam.STREAM_URL,
            "drivers": [d for d in settings_rules.DRIVERS if d],
            "measures": DESCRIPTIONS,
            "chips": sorted(CHIPS),
            "camera_modes": list(settings_rules.CAMERA_MODES),
            "failure_policies": list(settings_rules.FAILURE_POLICIES),
            "preset_name_max": settings_rules.PRESET_NAME_MAX,
        }

    def is_template_autoescaped(self):
        return True

    # ~~ WizardPlugin mixin

    def is_wizard_required(self):
        # Read from the settings, not the controller: OctoPrint may ask before start-up ends.
        return wizard_rules.is_required(self._config()["driver"])

    def get_wizard_version(self):
        return wizard_rules.WIZARD_VERSION

    def get_wizard_details(self):
        return wizard_rules.details(self._config()["driver"], self._simulation_enabled(),
                                    self.port is not None and self.port.is_connected())

    def on_wizard_finish(self, handled):
        if handled:
            driver = self._config()["driver"]
            self._logger.info("Set-up wizard finished, lens driver %s", repr(driver) if driver else "none (skipped)")

    # ~~ AssetPlugin mixin

    def get_assets(self):
        def found(folder: str, suffix: str) -> List[str]:
            base = STATIC / folder
            return sorted(p.relative_to(STATIC).as_posix() for p in base.glob(f"*{suffix}")) if base.is_dir() else []

        # Vendored libraries (static/js/lib/) load before PiFocus's own scripts.
        return {"js": found("js/lib", ".js") + found("js", ".js"), "css": found("css", ".css"),
                "less": found("less", ".less")}

    # ~~ WebcamProviderPlugin mixin

    def get_webcam_configurations(self):
        if not self._simulation_enabled():
            return []
        webcams = []
        names = self.devices.names() if self.devices is not None else {}
        for index, device_id, driver in self.simulations.simulated():
            settings = self.simulations.settings_for(index, driver)
            ratio = (RatioEnum.four_three if settings and settings.width * 3 == settings.height * 4
                     else RatioEnum.sixteen_nine)
            query = f"?device={device_id}" if index else ""
            webcams.append(Webcam(
                name=webcam_name(device_id, index == 0),
                displayName=(gettext("PiFocus simulated camera") if index == 0 else
                             gettext("PiFocus simulated camera (%(device)s)", device=names.get(device_id, device_id))),
                canSnapshot=True,
                snapshotDisplay=gettext("Rendered by PiFocus at the simulated lens position"),
                compat=WebcamCompatibility(
                    stream=simcam.STREAM_URL + query,
                    streamRatio=ratio,
                    snapshot=simcam.SNAPSHOT_URL + query,
                ),
                extras={"simulation": settings.lens if settings else None, "device": device_id},
            ))
        return webcams

    def take_webcam_snapshot(self, webcamName):
        device_id = self.simulations.device_for_webcam(webcamName) if self._simulation_enabled() else None
        if device_id is None or self._frames_stopped:
            raise WebcamNotAbleToTakeSnapshotException(webcamName)
        frame = self._simcam_frame(device_id)
        if frame is None:
            raise WebcamNotAbleToTakeSnapshotException(webcamName)
        return iter([frame])

    # ~~ BlueprintPlugin mixin

    @octoprint.plugin.BlueprintPlugin.route("/" + simcam.SNAPSHOT_ROUTE, methods=["GET"])
    def simcam_snapshot(self):
        if not Permissions.WEBCAM.can():
            return _error(403, gettext("You need the Webcam permission to see the camera."))
        if self._stopped is not None:
            return _error(409, self._stopped_message())
        frame = self._simcam_frame(flask.request.args.get("device"))
        if frame is None:
            return _error(404, self._simulation_off_message())
        return flask.Response(frame, mimetype="image/jpeg",
                              headers={"Cache-Control": simcam.NO_CACHE})

    @octoprint.plugin.BlueprintPlugin.route("/snapshot", methods=["GET"])
    def camera_snapshot(self):
        """A JPEG from the camera PiFocus focuses with, for drawing the region of interest."""
        if not (_can_control() or _can_admin()):
            return _error(403, gettext("You need the PiFocus control permission to see its camera."))
        if self._stopped is not None:
            return _error(409, self._stopped_message())
        try:
            frame = self.devices.find(flask.request.args.get("device")).snapshot()
        except UnknownDevice as exc:
            return _error(400, str(exc))
        except (PiFocusError, ValueError, OSError) as exc:
            return _error(502, str(exc))
        return flask.Response(frame, mimetype="image/jpeg", headers={"Cache-Control": simcam.NO_CACHE})

    def is_blueprint_protected(self):
        return True

    def is_blueprint_csrf_protected(self):
        return True

    # ~~ SimpleApiPlugin mixin

    def get_api_commands(self):
        # No mandatory fields here: PiFocus checks them itself, to answer with a JSON message.
        return {command: [] for command in api.COMMANDS}

    def on_api_command(self, command, data):
        if self._stopped is not None:
            return _error(409, self._stopped_message())
        status, body = api.handle_command(
            self.devices, command, data, can_control=_can_control(), can_admin=_can_admin(),
            current_settings=self._settings.get_all_data(merged=True), logger=self._logger,
            can_move_printer=bool(Permissions.CONTROL.can()))
        return flask.make_response(flask.jsonify(_reply(body)), status)

    def on_api_get(self, request):
        control, admin = _can_control(), _can_admin()
        if not (control or admin):
            return _error(403, gettext("You need the PiFocus control permission for this."))
        if self._stopped is not None:
            return _error(409, self._stopped_message())
        key = request.args.get("device") if request is not None else None
        try:
            body = self.devices.status(permissions={"control": control, "admin": admin}, key=key)
        except UnknownDevice as exc:
            return _error(400, str(exc))
        # Where the toolhead is (mm, None = unknown): calibration's "here", follow focus.
        body["toolhead"] = self._toolhead.position()
        return flask.jsonify(_reply(body))

    def is_api_protected(self):
        return True

    # ~~ EventHandlerPlugin mixin

    def on_event(self, event, payload):
        if self.devices is None:
            return
        if event in (PLUGIN_DISABLED_EVENT, PLUGIN_ENABLED_EVENT) and (payload or {}).get("id") == self._identifier:
            # Disabling PiFocus needs a restart, so OctoPrint does not call on_plugin_disabled.
            if event == PLUGIN_DISABLED_EVENT:
                self._stop_background("disabled")
            else:
                self._resume_background()
            return
        if self._stopped is not None:
            return
        if event == Events.DISCONNECTED:
            self.port.reset()
        self._toolhead_event(event, payload)
        if event in (Events.PRINT_CANCELLING, Events.PRINT_FAILED, Events.DISCONNECTED, Events.ERROR):
            self.automation.on_print_stopping()
        if event in (Events.PRINTER_STATE_CHANGED, Events.CONNECTED, Events.DISCONNECTED):
            self.devices.publish_status()
        if event == Events.PRINT_STARTED:
            self.drift_watch.print_started()
        if event == Events.Z_CHANGE:
            self.drift_watch.on_z_change()

    # ~~ octoprint.access.permissions hook

    def get_additional_permissions(self, *args, **kwargs):
        return [
            {
                "key": "CONTROL",
                "name": "Focus control",
                "description": gettext("Allows to move the camera focus, run autofocus and use focus presets"),
                "default_groups": [USER_GROUP],
                "roles": ["control"],
            },
            {
                "key": "ADMIN",
                "name": "Focus administration",
                "description": gettext("Allows to detect and test focus hardware and to change PiFocus's lens "
                                       "and camera settings"),
                "default_groups": [ADMIN_GROUP],
                "roles": ["admin"],
                "dangerous": True,
            },
        ]

    # ~~ octoprint.events.register_custom_events hook

    def register_custom_events(self, *args, **kwargs):
        return list(EVENTS)

    # ~~ G-code hooks: @PIFOCUS, the printer-Z port, autofocus before a print

    def on_atcommand_queuing(self, comm, phase, command, parameters, tags=None, *args, **kwargs):
        if command.upper() != ATCOMMAND or self.automation is None:
            return
        if self._stopped is not None:
            self._logger.warning("@%s %s ignored: %s", ATCOMMAND, parameters, self._stopped_message())
            return
        self.automation.on_atcommand(parameters, tags)

    def on_gcode_sending(self, *args, **kwargs):
        return self.port.on_gcode_sending(*args, **kwargs) if self.port is not None else None

    def on_gcode_sent(self, comm, phase, cmd, *args, **kwargs):
        self._toolhead.on_sent(cmd, comm)
        return self.port.on_gcode_sent(comm, phase, cmd, *args, **kwargs) if self.port is not None else None

    def on_gcode_received(self, comm, line, *args, **kwargs):
        self._toolhead.on_received(line)
        return self.port.on_gcode_received(comm, line) if self.port is not None else line

    def _toolhead_now(self):
        """Where the toolhead is now, for the simulated camera's focus field: the paced virtual
        printer's head when it is connected (the truth, independent of PiFocus's estimate),
        else PiFocus's own estimate (another printer: nothing better is known)."""
        head = self.paced_port.head() if self.paced_port is not None else None
        if head is not None:
            return head
        return self._toolhead.position_at(self._toolhead.now())

    def _paced_port_names(self, *args, **kwargs):
        return self.paced_port.port_names() if self.paced_port is not None else []

    def _paced_factory(self, *args, **kwargs):
        return self.paced_port.factory(*args, **kwargs) if self.paced_port is not None else None

    def _toolhead_event(self, event: str, payload: Optional[Dict[str, Any]]) -> None:
        """Forget the toolhead when the printer goes; ask where it is when one connects."""
        if event == Events.DISCONNECTED:
            self._toolhead.reset()
        elif event == Events.CONNECTED and self.port is not None:
            if (payload or {}).get("port") in ("VIRTUAL", PACED_PORT):
                # The virtual printers (OctoPrint's and the paced one) hold commandBuffer moves
                # and run one: the planner bound the estimate leans on.
                held = self._settings.global_get_int(["plugins", "virtual_printer", "commandBuffer"])
                self._toolhead.set_planner_moves((held or 4) + 1)
            try:
                self.port.send(["M114"])
            except OSError as exc:
                self._logger.info("Could not ask the printer for its position: %s", exc)

    def on_gcode_script(self, comm, script_type, script_name, *args, **kwargs):
        if self.automation is None or self._stopped is not None:
            return None
        return self.automation.before_print_script(script_type, script_name)

    # ~~ octoprint.timelapse.capture.pre hook

    #: How long a timelapse frame waits for a device's lens (its capture thread, not the printer's).
    TIMELAPSE_WAIT = 2.0

    def on_timelapse_capture_pre(self, filename, *args, **kwargs):
        """Follow focus on: the lens at the map's value for this frame's moment."""
        if self.devices is None or self._stopped is not None:
            return
        for device in self.devices:
            device.follow.before_timelapse_frame(self.TIMELAPSE_WAIT)

    # ~~ octoprint.plugin.softwareupdate.check_config hook

    def get_update_information(self, *args, **kwargs):
        return {
            self._identifier: {
                "displayName": "PiFocus",
                "displayVersion": self._plugin_version,
                "type": "github_release",
                "user": "pifocus",
                "repo": "OctoPrint-PiFocus",
                "current": self._plugin_version,
                "pip": "https://github.com/pifocus/OctoPrint-PiFocus/archive/{target_version}.zip",
            }
        }

    # ~~ octoprint.server.http.routes hook

    def route_hook(self, server_routes, *args, **kwargs):
        return [(
            r"/" + simcam.STREAM_ROUTE,
            simcam.SimcamStreamHandler,
            {
                "frame": self._simcam_frame,
                "fps": self._simcam_fps,
                "access_validation": simcam.own_access(self._simcam_token,
                                                       simcam.camera_access_validation(self._plugin_manager)),
            },
        )]

    # ~~ octoprint.server.api.before_request hook

    def api_before_request_hook(self, *args, **kwargs):
        return [self._check_api_body]

    def _check_api_body(self):
        """A 400 for command bodies OctoPrint's own parser would answer with a 500.

        OctoPrint reads ``{"command": ...}`` before the plugin sees the request and fails on
        a body that is not a JSON object or a command that is not a string, or that nests so
        deep that the JSON parser runs out of stack. This runs before any permission check, so
        it must hold against anyone's body: the depth is counted before anything parses it.
        """
        if flask.request.method != "POST" or flask.request.path.rstrip("/") != API_PATH:
            return None
        if api.body_too_deep(flask.request.get_data(cache=True)):
            return _error(400, gettext("The body nests more than %(count)d levels of lists and objects; "
                                       "PiFocus's commands need far fewer.", count=api.BODY_NESTING_MAX))
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("command"), str):
            return _error(400, gettext('The body must be a JSON object with a "command" string, '
                                       'e.g. {"command": "move", "position": 400}.'))
        return None

    # ~~ hooks

    def hooks(self) -> dict:
        return {
            "octoprint.server.api.before_request": self.api_before_request_hook,
            "octoprint.server.http.routes": self.route_hook,
            "octoprint.access.permissions": self.get_additional_permissions,
            "octoprint.events.register_custom_events": self.register_custom_events,
            "octoprint.comm.protocol.atcommand.queuing": self.on_atcommand_queuing,
            "octoprint.comm.protocol.gcode.sending": self.on_gcode_sending,
            "octoprint.comm.protocol.gcode.sent": self.on_gcode_sent,
            "octoprint.comm.protocol.gcode.received": self.on_gcode_received,
            "octoprint.comm.protocol.scripts": self.on_gcode_script,
            "octoprint.cli.commands": cli_commands,
            "octoprint.timelapse.capture.pre": self.on_timelapse_capture_pre,
            "octoprint.plugin.softwareupdate.check_config": self.get_update_information,
            "octoprint.comm.transport.serial.factory": self._paced_factory,
            "octoprint.comm.transport.serial.additional_port_names": self._paced_port_names,
        }

    # ~~ simulation

    def _simulation_enabled(self) -> bool:
        return bool(self._settings.get_boolean(["simulation", "enabled"]))

    def _simulation_settings(self) -> Optional[SimulationSettings]:
        """The global simulation settings; None (the error logged once) when refused."""
        try:
            settings = SimulationSettings.from_dict(self._settings.get(["simulation"], merged=True))
        except ValueError as exc:
            if self._simulation_error != str(exc):
                self._logger.error("Simulation settings rejected: %s", exc)
            self._simulation_error = str(exc)
            return None
        self._simulation_error = None
        return settings

    def _simulation_off_message(self) -> str:
        if self._simulation_error and self._simulation_enabled():
            return gettext("The PiFocus simulation is misconfigured: %(error)s", error=self._simulation_error)
        return gettext("The PiFocus simulation is off (setting simulation.enabled).")

    def _device_drivers(self) -> List[tuple]:
        return self.devices.drivers() if self.devices is not None else []

    def simulation(self, device_id: Optional[str] = None) -> Optional[Simulation]:
        """Device ``device_id``'s running simulation (the first device's for None), created on
        first use; None while the simulation is off or the device has none."""
        if not self._simulation_enabled():
            return None
        return self.simulations.get(device_id)

    def _reset_simulation(self) -> None:
        """Rebuild the simulations from the settings on next use, keeping each VCM where it is."""
        self.simulations.reset(self._simulation_enabled())

    def _simcam_frame(self, device_id: Optional[str] = None) -> Optional[bytes]:
        """A frame of a device's simulated camera; None (no frame, an open stream ends) while
        it is off or PiFocus is stopped."""
        if self._frames_stopped:
            return None
        simulation = self.simulation(device_id or None)
        return simulation.frame() if simulation is not None else None

    def _simcam_fps(self) -> float:
        return self.simulations.fps()

    def _simcam_own_stream(self, webcam, local_base: str) -> Optional[str]:
        """The URL at which a device reads PiFocus's simulated ``webcam`` as a stream, with the
        start's secret as its password; None while ``simulation.stream`` is off."""
        if not self._simulation_enabled() or not self.simulations.streamed():
            return None
        url = stream_url(webcam, local_base)
        scheme, sep, rest = (url or "").partition("://")
        return f"{scheme}{sep}{simcam.OWN_USER}:{self._simcam_token}@{rest}" if sep else None
