"""``octoprint plugins pifocus:<command>``: the engine's command line inside OctoPrint's.

The ``octoprint.cli.commands`` hook gets one click command per engine sub-command (``score``,
``demo``, ``lens``, ``autofocus``); OctoPrint names them ``pifocus:score`` and so on. Each
forwards its arguments untouched to :func:`octoprint_pifocus.cli.main`, so options and help
are the engine's own::

    octoprint plugins pifocus:lens probe
    octoprint plugins pifocus:autofocus --driver i2c --camera http://127.0.0.1:8080/snapshot
    octoprint plugins pifocus:lens --help

``--focus-device NAME`` (a focus device's name or id, see ``devices`` in the settings) stands
for that device's stored lens options, and for ``autofocus`` also its camera URL, settle time,
discard count, region and measure; options given as well are added after them. Not
``--device``: the engine's ``lens`` and ``autofocus`` already use that for the V4L2 node or the
camera-streamer device name::

    octoprint plugins pifocus:lens move 400 --focus-device nozzle
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

#: The option that names a focus device.
FOCUS_DEVICE = "--focus-device"


class DeviceOptionError(ValueError):
    """``--focus-device`` names no usable device; the message says why and what exists."""


def split_focus_device(arguments: List[str]) -> Tuple[Optional[str], List[str]]:
    """``(the --focus-device value or None, the other arguments)``."""
    rest: List[str] = []
    device: Optional[str] = None
    items = list(arguments)
    while items:
        item = items.pop(0)
        if item == FOCUS_DEVICE:
            if not items:
                raise DeviceOptionError(f"{FOCUS_DEVICE} needs a device name or id")
            device = items.pop(0)
        elif item.startswith(FOCUS_DEVICE + "="):
            device = item[len(FOCUS_DEVICE) + 1:]
        else:
            rest.append(item)
    return device, rest


def device_options(stored: Optional[Dict[str, Any]], key: str, command: str) -> List[str]:
    """The engine options a stored focus device stands for (``stored``: ``plugins.pifocus`` as in
    config.yaml, any layout version: older ones are read as migrated)."""
    from . import settings as rules

    data = {k: v for k, v in (stored or {}).items() if not k.startswith("_")}
    changes = rules.migrate(data, (stored or {}).get("_config_version"))
    data = {k: v for k, v in dict(data, **changes).items() if v is not None}
    try:
        checked = rules.check(data)
    except rules.SettingsError as exc:
        raise DeviceOptionError(f"PiFocus's stored settings are not usable: {exc.message} ({exc.path})") from None
    devices = checked["devices"]
    device = next((d for d in devices if d["id"] == key), None) or next(
        (d for d in devices if d["name"].casefold() == key.strip().casefold()), None)
    if device is None:
        known = ", ".join(f"{d['name']!r} ({d['id']})" for d in devices)
        raise DeviceOptionError(f"Unknown focus device {key!r}: use one of {known} (name or id)")
    driver = device["driver"]
    if command == "map":
        return _map_options(device)
    if driver in ("", "printer-z"):
        raise DeviceOptionError(f"Focus device {device['name']!r} has "
                                + ("no lens driver set up" if not driver else
                                   "the printer-Z driver, which needs OctoPrint's printer: use the API or @PIFOCUS"))
    options = device_lens_options(device)
    if command == "autofocus":
        camera = device["camera"]
        if camera["url"]:
            options += ["--camera", camera["url"]]
        options += ["--settle", str(camera["settle"]), "--discard", str(camera["discard"]),
                    "--roi", ",".join(str(v) for v in device["roi"]), "--measure", device["measure"]]
    return options


def _map_options(device: Dict[str, Any]) -> List[str]:
    """``pifocus:map --focus-device NAME``: the device's stored focus map, and its lens unless it
    is printer Z (only looked up then: moving Z needs OctoPrint's printer)."""
    import json

    if device.get("focus_map") is None:
        raise DeviceOptionError(f"Focus device {device['name']!r} has no focus map: calibrate one "
                                "(Settings > PiFocus > Follow focus), then try again")
    options = ["--map-json", json.dumps(device["focus_map"])]
    if device["driver"] not in ("", "printer-z", "simulated"):
        options += device_lens_options(device)
    return options


def device_lens_options(device: Dict[str, Any]) -> List[str]:
    """``--driver`` and the lens options of a device with a hardware lens."""
    driver = device["driver"]
    options = ["--driver", driver]
    if driver == "i2c":
        o = device["i2c"]
        options += ([] if o["bus"] is None else ["--bus", str(o["bus"])]) + [
            "--address", f"0x{o['address']:02X}", "--chip", o["chip"]] + (["--force"] if o["force"] else [])
    elif driver == "v4l2" and device["v4l2"]["device"]:
        options += ["--device", device["v4l2"]["device"]]
    elif driver == "camera-streamer":
        o = device["camera_streamer"]
        options += ["--url", o["url"]] + (["--device", o["device"]] if o["device"] else [])
    return options


def with_device_options(arguments: List[str], options: List[str], command: str) -> List[str]:
    """``options`` put before the user's own (argparse keeps the last of a repeated option, so
    the user's win): after ``lens``'s action word, whose parser has the lens options."""
    at = 0
    if command == "lens":
        at = next((i + 1 for i, a in enumerate(arguments) if not a.startswith("-")), len(arguments))
    return arguments[:at] + options + arguments[at:]


def _stored_settings() -> Optional[Dict[str, Any]]:
    from octoprint.settings import settings

    return settings().get(["plugins", "pifocus"], merged=False, incl_defaults=False)


def cli_commands(cli_group, pass_octoprint_ctx, *args, **kwargs) -> List:
    import click

    from .. import cli

    def make(name: str):
        @click.command(name=name, add_help_option=False,
                       context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                       help=f"The engine's '{name}' command (same options as 'pifocus {name}'; --help for them).")
        @click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
        @click.pass_context
        def command(ctx, arguments):
            try:
                key, arguments = split_focus_device(list(arguments))
                if key is not None:
                    arguments = with_device_options(arguments, device_options(_stored_settings(), key, name), name)
            except DeviceOptionError as exc:
                click.echo(f"pifocus {name}: {exc}", err=True)
                ctx.exit(2)
            code = cli.main([name] + list(arguments), prog="octoprint plugins pifocus")
            ctx.exit(code)

        return command

    return [make(name) for name in cli.COMMANDS]
