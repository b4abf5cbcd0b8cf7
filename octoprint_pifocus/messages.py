"""Every message of the engine a user may read: a code, an English template, parameters.

The engine (lenses, frame sources, the search, the simulation, the command line) is plain
Python with no OctoPrint and no flask_babel, and often runs in a background thread where no
user's language is known. So it does not translate: it says *which* message (a code from
:data:`CATALOGUE`) with *what* parameters, in a :class:`Message`. ``str(message)`` is the
English text, as the logs and the command line show it. Whoever knows the reader's language
translates: the plugin's API with the request's locale (``plugin/i18n.py``), the browser
for pushed messages and events (``PiFocusShared.translate`` in ``static/js/pifocus_shared.js``,
with the template and parameters the plugin puts next to the English text).

The templates are marked with :func:`N_` (a no-op) so ``pybabel`` extracts them into the
plugin's catalogue (``babel.cfg``); OctoPrint serves that catalogue to the browser too, so a
template extracted here is translated by its English text in JavaScript as well.

Passwords: every parameter is redacted when the message is made
(:func:`~octoprint_pifocus.redact.redact`), so a camera URL in a parameter never carries its
password, in English or in any translation.

Messages that went into a plain string (a status field, a result message) are found again by
their English text: :func:`remember` keeps the most recent ones, :func:`known` looks one up.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .redact import redact


def N_(text: str) -> str:
    """Marks ``text`` for extraction into the translation catalogue; returns it unchanged."""
    return text


#: code -> English template (Python %-format with named parameters, all ``%(name)s``).
CATALOGUE: Dict[str, str] = {
    # ~~ any lens (lenses/base.py)
    "lens.not_a_number": N_("The %(what)s must be a number; got %(value)s. Nothing was moved."),
    "lens.not_finite": N_("The %(what)s must be a finite number; got %(value)s. Nothing was moved."),
    "lens.outside_range": N_("Position %(position)s is outside the range %(low)s..%(high)s %(units)s "
                             "of %(where)s; nothing was moved."),
    "lens.position_unknown": N_("The current position of %(where)s is unknown, so there is nothing to "
                                "nudge from; set an absolute position first."),
    # ~~ I2C voice-coil lens (lenses/i2c_vcm.py)
    "i2c.hint.no_answer": N_("The lens is powered only while the camera streams: is the webcam running? "
                             "On a Pi 3 try bus 0 with dtparam=i2c_vc=on; on a Pi 4/5, bus 10."),
    "i2c.hint.permission": N_("add the user running OctoPrint to the i2c group (sudo usermod -aG i2c pi, "
                              "then restart OctoPrint), or give the device to that group with a udev "
                              "rule: SUBSYSTEM==\"i2c-dev\", GROUP=\"i2c\", MODE=\"0660\""),
    "i2c.no_answer": N_("No lens driver answered at 0x%(address)s on %(path)s. %(hint)s"),
    "i2c.permission": N_("Permission denied opening %(path)s: %(hint)s."),
    "i2c.no_device": N_("%(path)s does not exist. Enable the camera's I2C bus (Pi 3: dtparam=i2c_vc=on in "
                        "/boot/config.txt; some Pi 4 setups: dtparam=i2c10=on), or pick another bus: "
                        "`pifocus lens probe` lists them."),
    "i2c.busy_address": N_("Address 0x%(address)s on %(path)s is claimed by a kernel driver (the camera "
                           "overlay's own lens driver). Use the v4l2 driver on its /dev/v4l-subdevN node or "
                           "camera-streamer, or use force (it races libcamera's autofocus)."),
    "i2c.not_a_bus": N_("%(path)s is not an I2C bus device (the I2C ioctls failed on it)."),
    "i2c.timeout": N_("The I2C bus %(path)s timed out %(doing)sat 0x%(address)s: the bus may be held by "
                      "another device (the official touchscreen shares it). Restart the camera or "
                      "power-cycle the Pi."),
    "i2c.transfer_failed": N_("I2C transfer %(doing)sto 0x%(address)s on %(path)s failed: %(reason)s "
                              "(errno %(errno)s). %(hint)s"),
    "i2c.doing.wake": N_("waking the chip "),
    "i2c.doing.move": N_("moving to %(position)s "),
    "i2c.tried": N_("%(message)s (tried %(count)s times)"),
    "i2c.chip_busy": N_("The %(chip)s at 0x%(address)s stayed busy (status register 0x05 never cleared); "
                        "the previous move may not have finished. Try again; if it persists, restart "
                        "the camera."),
    "i2c.no_smbus": N_("The I2C lens driver needs the smbus2 package: pip install smbus2"),
    "i2c.no_buses": N_("No I2C buses (i2c-N) in %(dir)s. Enable the camera's I2C bus: on a Pi 3 "
                       "dtparam=i2c_vc=on in /boot/config.txt (bus 0); on a Pi 4/5 it is bus 10 "
                       "(some setups need dtparam=i2c10=on)."),
    "i2c.no_answer_any": N_("No lens driver answered at 0x%(address)s on any I2C bus (%(tried)s). %(hint)s"),
    "i2c.whole_codes": N_("%(where)s takes whole codes; got %(value)s. Nothing was moved."),
    "i2c.closed": N_("%(where)s was closed; open the lens again."),
    "i2c.where": N_("%(chip)s at 0x%(address)s on %(path)s"),
    # ~~ V4L2 focus control (lenses/v4l2.py)
    "v4l2.hint.video_group": N_("add the user running OctoPrint to the video group (sudo usermod -aG video "
                                "pi, then restart OctoPrint)"),
    "v4l2.hint.subdev": N_("Kernel lens drivers (dw9714, dw9807/dw9817, ak7375) put focus_absolute on a "
                           "/dev/v4l-subdevN node, not on /dev/videoN: `pifocus lens probe` lists the "
                           "nodes that have it."),
    "v4l2.permission": N_("Permission denied opening %(path)s: %(hint)s."),
    "v4l2.no_device": N_("%(path)s does not exist (is the camera plugged in?). `pifocus lens probe` lists "
                         "the V4L2 nodes that have focus_absolute."),
    "v4l2.cannot_open": N_("Cannot open %(path)s: %(reason)s (errno %(errno)s)."),
    "v4l2.no_control": N_("%(path)s has no %(control)s control. %(hint)s"),
    "v4l2.read_only": N_("%(path)s refused %(doing)s %(control)s: the control is read-only or inactive "
                         "(auto focus still on?). Switch %(auto)s off, e.g. v4l2-ctl -d %(path)s -c "
                         "%(auto)s=0."),
    "v4l2.control_busy": N_("%(path)s refused %(doing)s %(control)s: another program holds the control "
                            "(a streamer or libcamera); stop it or use its own focus setting."),
    "v4l2.gone": N_("%(doing)s %(control)s on %(path)s failed: %(reason)s. Is the camera still connected "
                    "and powered?"),
    "v4l2.failed": N_("%(doing)s %(control)s on %(path)s failed: %(reason)s (errno %(errno)s)."),
    "v4l2.doing.reading": N_("reading"),
    "v4l2.doing.setting": N_("setting %(value)s on"),
    "v4l2.Doing.reading": N_("Reading"),
    "v4l2.Doing.setting": N_("Setting %(value)s on"),
    "v4l2.disabled": N_("%(control)s on %(path)s is disabled; this node cannot move the lens."),
    "v4l2.read_only_control": N_("%(control)s on %(path)s is read-only; this node cannot move the lens."),
    "v4l2.none_found": N_("No V4L2 device with %(control)s found in %(dir)s (looked at video* and "
                          "v4l-subdev*). %(problems)s"),
    "v4l2.none_found_hint": N_("No V4L2 device with %(control)s found in %(dir)s (looked at video* and "
                               "v4l-subdev*). Is the camera connected? A camera without a focus motor has "
                               "no such control."),
    "v4l2.closed": N_("%(path)s was closed; open the lens again."),
    "v4l2.stays_inactive": N_("%(control)s on %(path)s stays inactive after switching %(auto)s off; another "
                              "program may be switching auto focus back on."),
    # ~~ camera-streamer (lenses/camera_streamer.py)
    "streamer.bad_url": N_("The camera-streamer %(error)s"),
    "streamer.unreachable": N_("Cannot reach camera-streamer at %(url)s (%(why)s): check that "
                               "camera-streamer is running (systemctl status 'camera-streamer*') and "
                               "that the URL and port are right (the default is port 8080)."),
    "streamer.why.timeout": N_("no reply within %(seconds)s s"),
    "streamer.why.refused": N_("connection refused"),
    "streamer.why.unknown_host": N_("unknown host %(host)s: %(reason)s"),
    "streamer.why.bad_http": N_("no valid HTTP answer: %(error)s"),
    "streamer.credentials_refused": N_("camera-streamer at %(url)s refused the user name or password in "
                                       "the URL: check them."),
    "streamer.credentials_needed": N_("camera-streamer at %(url)s needs a user name and password (it "
                                      "answered HTTP %(status)s): put them in the URL in front of the "
                                      "host, as user:password@host."),
    "streamer.not_streamer": N_("%(url)s does not answer like camera-streamer (GET /option gave "
                                "%(status)s%(said)s). Check the URL: camera-streamer listens on port 8080 "
                                "by default; the OctoPrint web port (80) does not pass /option on."),
    "streamer.said": N_(" (camera-streamer said: %(text)s)"),
    "streamer.no_control": N_("The camera exposes no %(key)s control%(on)s: this camera has no focus "
                              "motor (the Pi Camera Module 3 has one; v1/v2/HQ do not)%(said)s."),
    "streamer.on_device": N_(" on device %(device)s"),
    "streamer.rejected": N_("camera-streamer at %(url)s rejected the request to set %(key)s (400 bad "
                            "request)%(said)s. If this camera-streamer speaks the other URL form, set the "
                            "form ('old' or 'new') explicitly."),
    "streamer.could_not_set": N_("camera-streamer at %(url)s could not set %(key)s to %(value)s "
                                 "(500)%(said)s. Is the camera running, and does it accept this value?"),
    "streamer.answered": N_("camera-streamer at %(url)s answered %(status)s when setting %(key)s%(said)s."),
    # ~~ printer Z (lenses/printer_z.py)
    "printer.not_connected": N_("The printer is not connected: connect it in OctoPrint first. Nothing "
                                "was sent."),
    "printer.printing": N_("A print is running: PiFocus moves Z only while the print is held for it. "
                           "Nothing was sent."),
    "printer.not_homed": N_("The printer is not homed: home it (G28) first, or turn off 'require homed' "
                            "if your setup never homes. Nothing was sent."),
    "printer.homed_unknown": N_("PiFocus cannot tell whether the printer is homed: home it (G28) first, "
                                "or turn off 'require homed' if your setup never homes. Nothing was "
                                "sent."),
    "printer.extruder_mode": N_("The extruder's positioning mode (M82/M83) is unknown, and a held print "
                                "would resume with the wrong one after this move. Nothing was sent."),
    "printer.z_stopped": N_("The printer reports Z=%(reached)s after a move to %(target)s: is a software "
                            "endstop or Z limit stopping it?"),
    "printer.z_back_stopped": N_("The printer reports Z=%(reached)s after the move back to %(target)s: is "
                                 "a software endstop or Z limit stopping it?"),
    "printer.send_failed": N_("Sending to the printer failed: %(error)s. Is it still connected?"),
    "printer.z_unknown": N_("The printer is not connected, so its Z position is unknown: connect it in "
                            "OctoPrint."),
    "printer.no_m114": N_("The printer did not answer M114 within %(seconds)s s (%(error)s); is it busy "
                          "or disconnected?"),
    "printer.m114_no_z": N_("The printer's M114 reply has no Z position: %(reply)s"),
    # ~~ cameras (sources/)
    "camera.bad_url": N_("The camera %(error)s Give a full URL like http://octopi.local/webcam/?action="
                         "stream; a URL relative to OctoPrint, like /webcam/?action=stream, has to be "
                         "resolved against OctoPrint's address first."),
    "camera.hint.path": N_("mjpg-streamer uses /?action=snapshot and /?action=stream, camera-streamer "
                           "/snapshot and /stream, and OctoPrint's proxy puts /webcam/ in front"),
    "camera.refused": N_("Cannot connect to the camera at %(url)s: connection refused. Is the webcam "
                         "service running, or does the streamer accept only one client (ffmpeg's "
                         "-listen 1)? Check the URL and port."),
    "camera.timeout": N_("The camera at %(url)s did not answer within %(seconds)s s. Is the webcam service "
                         "running and not overloaded? Check the URL, or allow a longer timeout."),
    "camera.unknown_host": N_("Cannot find the host %(host)s of the camera URL %(url)s: check the host "
                              "name."),
    "camera.untrusted": N_("The HTTPS certificate of %(url)s is not trusted (%(reason)s). Use http://, or "
                           "a certificate this system trusts."),
    "camera.https_failed": N_("HTTPS failed with %(url)s (%(reason)s). Is it really an https:// URL?"),
    "camera.closed_connection": N_("The camera at %(url)s closed the connection (%(reason)s). Is the "
                                   "webcam service restarting or overloaded?"),
    "camera.bad_http": N_("The camera at %(url)s did not answer with valid HTTP (%(reason)s): check the "
                          "URL and port."),
    "camera.unreachable": N_("Cannot reach the camera at %(url)s: %(reason)s. Check the host, port and "
                             "network."),
    "camera.answered": N_("%(url)s answered HTTP %(status)s %(reason)s"),
    "camera.answered_text": N_("%(url)s answered HTTP %(status)s %(reason)s (%(text)s)"),
    "camera.credentials_refused": N_("The camera at %(said)s: the user name or password in the URL was "
                                     "refused: check them."),
    "camera.credentials_needed": N_("The camera at %(said)s: it needs a user name and password: put them "
                                    "in the URL in front of the host, as user:password@host."),
    "camera.wrong_path": N_("The camera at %(said)s: wrong path. Check the URL: %(hint)s."),
    "camera.redirects": N_("The camera at %(said)s: it redirects. Use that URL instead."),
    "camera.redirects_to": N_("The camera at %(said)s: it redirects to %(location)s. Use that URL "
                              "instead."),
    "camera.server_error": N_("The camera at %(said)s: the webcam service has a problem. Is the camera "
                              "connected and working? Check the service's log."),
    "camera.not_ok": N_("The camera at %(said)s, not 200 OK. Check the URL: %(hint)s."),
    "camera.is_stream": N_("%(url)s is an MJPEG stream, not a snapshot URL: use it as a stream."),
    "camera.empty": N_("The camera at %(url)s sent an empty response instead of a JPEG. The camera may "
                       "not be delivering pictures: check the webcam service."),
    "camera.html": N_("The camera at %(url)s sent an HTML page instead of a JPEG: it looks like a login "
                      "or error page. Check the URL, and the user name and password if the page asks to "
                      "log in."),
    "camera.html_titled": N_("The camera at %(url)s sent an HTML page titled %(title)s instead of a JPEG: "
                             "it looks like a login or error page. Check the URL, and the user name and "
                             "password if the page asks to log in."),
    "camera.jpeg_damaged": N_("The camera at %(url)s sent a JPEG that is cut short or damaged (%(size)s "
                              "bytes). The connection or the webcam service is unreliable: check them."),
    "camera.not_jpeg": N_("The camera at %(url)s sent %(size)s bytes of %(kind)s that are not a JPEG (they "
                          "start with %(start)s). Check that the URL gives a JPEG picture."),
    "camera.unknown_type": N_("an unknown type"),
    "camera.too_big": N_("The camera at %(url)s sent more than %(megabytes)s MB for one picture: is it a "
                         "stream rather than a snapshot URL?"),
    "camera.unusable_frame": N_("The camera sent a frame PiFocus cannot use: %(error)s"),
    "stream.name": N_("MJPEG stream %(url)s"),
    "snapshot.name": N_("snapshot URL %(url)s"),
    "stream.closed": N_("The %(name)s is closed."),
    "stream.closed_waiting": N_("The %(name)s was closed while waiting for a frame."),
    "stream.failed": N_("Reading %(url)s failed unexpectedly: %(error)s"),
    "stream.ended": N_("The stream from %(url)s ended: the server closed the connection. Is the webcam "
                       "service restarting?"),
    "stream.single_pictures": N_("%(url)s serves single pictures (%(kind)s), not an MJPEG stream: use it as "
                                 "a snapshot URL, or give the stream URL instead."),
    "stream.stopped": N_("No fresh frame from %(url)s for %(seconds)s s: the stream stopped. Last error: "
                         "%(error)s"),
    "stream.stopped_hint": N_("No fresh frame from %(url)s for %(seconds)s s: the stream stopped. Is the "
                              "webcam service running, and the camera connected?"),
    "stream.no_jpeg": N_("Connected to %(url)s, but no JPEG frame arrived within %(seconds)s s (%(size)s "
                         "bytes came, none of them a JPEG). Is it an MJPEG stream? Check the URL: "
                         "%(hint)s."),
    "stream.no_frame": N_("No frame from %(url)s within %(seconds)s s. Is the webcam service running, and "
                          "the camera connected?"),
    # ~~ the search (focus/search.py)
    "autofocus.too_dark": N_("The region of interest is too dark to focus on (mean grey %(grey)s of 255). "
                             "Add light, or check that the camera shows a picture."),
    "autofocus.no_peak": N_("No focus peak found: sharpness changed by only %(percent)s%% over the whole "
                            "search, which is within the noise. The region of interest may have no detail: "
                            "move it onto edges or text, add light, or check that the lens really moves."),
    "autofocus.cancelled": N_("Autofocus cancelled."),
    # ~~ frames that did not follow the lens (focus/pipeline.py)
    "autofocus.stale": N_("The camera's frames did not follow the lens: a move showed only after about "
                          "%(delay)s ms, even after measuring the delay again. Stream with ffmpeg's "
                          "-c:v copy (or -threads 1 when re-encoding), or set a longer settle time."),
    "autofocus.stopped": N_("Autofocus stopped: %(error)s"),
    "autofocus.unexpected": N_("Autofocus stopped by an unexpected error (%(error)s)."),
    "autofocus.back": N_("%(reason)s The lens is back at its start position %(position)s."),
    "autofocus.left": N_("%(reason)s This lens cannot report where it was before the search, so it was "
                         "left at %(position)s."),
    "autofocus.back_failed_same": N_("%(reason)s Moving the lens back to %(position)s failed for the same "
                                     "reason."),
    "autofocus.back_failed": N_("%(reason)s Moving the lens back to %(position)s failed too: %(error)s"),
    # ~~ checks of values (sources/web.py, focus/decode.py): ValueErrors the settings quote
    "url.unreadable": N_("URL %(url)s is not valid: its host or port cannot be read. A password that holds "
                         "# ? / or @ works as it is; otherwise check the host and port."),
    "url.not_http": N_("URL %(url)s must be a full http:// or https:// URL with a host."),
    "url.space": N_("URL %(url)s contains a space: write it as %%20."),
    "roi.too_large": N_("ROI values must be finite numbers, got a number too large for one"),
    "roi.not_four": N_("ROI must be four numbers (x, y, w, h) as fractions of the frame, got %(value)s"),
    "roi.not_finite": N_("ROI values must be finite numbers, got %(value)s"),
    "roi.empty": N_("ROI width and height must be greater than 0, got w=%(w)s, h=%(h)s"),
    "roi.outside": N_("ROI must lie inside the frame: x, y >= 0 and x+w, y+h <= 1 (fractions), got %(value)s"),
    # ~~ the simulation (sim/)
    "sim.outside_range": N_("Position %(position)s is outside the lens range %(low)s..%(high)s; nothing "
                            "was moved."),
    "sim.lens_name": N_("simulated VCM"),
    "sim.name": N_("PiFocus simulation"),
    # ~~ the command line (cli/)
    "cli.cannot_read": N_("Cannot read %(name)s: %(reason)s"),
    # ~~ a focus device's jobs (plugin/device/): said from background threads too, so they
    # travel as codes like the engine's
    "job.autofocus": N_("an autofocus is running"),
    "job.print": N_("a print is held for focusing"),
    "job.gcode": N_("a @PIFOCUS command is running"),
    "job.move": N_("the lens is moving"),
    "job.restore": N_("restoring the lens position"),
    "job.test": N_("testing the lens"),
    "device.busy": N_("PiFocus is busy (%(what)s); try again when it is done."),
    "device.busy_preset": N_("PiFocus is busy (%(what)s), so the lens is not at a position worth saving: "
                             "save the preset when it is done, or give a position."),
    "device.z_held": N_("Printer Z is in use by the focus device %(name)s (%(id)s); try again when it is done."),
    "device.autofocus_not_started": N_("Autofocus could not start: %(error)s"),
    # ~~ calibrating a focus map (plugin/device/calibration.py): refusals and the run's end,
    # said from the calibration's thread too
    "job.calibrate": N_("a focus map calibration is running"),
    "calibration.not_connected": N_("The printer is not connected: connect it in OctoPrint, then calibrate."),
    "calibration.printing": N_("A print is running: calibrating moves the printer, so it waits until the "
                               "print is done."),
    "calibration.not_homed": N_("The printer is not homed: home it (G28) first, so the calibration's moves "
                                "go where they should."),
    "calibration.outside_volume": N_("Point %(index)s: %(axis)s %(value)s mm is outside the printer's volume "
                                     "%(low)s..%(high)s mm (OctoPrint's printer profile); nothing was moved."),
    "calibration.outside_window": N_("Point %(index)s: Z %(value)s mm is outside the focus device's Z window "
                                     "%(low)s..%(high)s mm; nothing was moved."),
    "calibration.z_is_lens": N_("This device focuses with printer Z, so its map is a height map over X and Y: "
                                "choose the axes Y, X, or X and Y."),
    "calibration.move_failed": N_("Moving the printer to point %(index)s failed: %(error)s"),
    "calibration.fit_failed": N_("The focus map could not be fitted: %(error)s"),
    "calibration.print_started": N_("A print started: the calibration stopped."),
    "calibration.no_map": N_("This device has no focus map yet: calibrate one first."),
    "calibration.no_point": N_("The focus map has no point %(index)s."),
    "calibration.position_unknown": N_("The printer did not report its position (M114): %(error)s"),
    # ~~ @PIFOCUS lines (plugin/automation.py): parsed on OctoPrint's comm thread, reported to
    # every browser
    "gcode.one_device": N_("@PIFOCUS takes one DEVICE=, not %(count)s"),
    "gcode.device_empty": N_('DEVICE= needs a device name or id, e.g. DEVICE=nozzle or DEVICE="nozzle cam"'),
    "gcode.no_action": N_("@PIFOCUS needs an action: %(usage)s"),
    "gcode.autofocus_mode": N_("@PIFOCUS AUTOFOCUS takes REFINE or nothing, not %(words)s"),
    "gcode.one_number": N_("@PIFOCUS %(verb)s takes one number, e.g. @PIFOCUS %(verb)s 400"),
    "gcode.not_a_number": N_("@PIFOCUS %(verb)s takes one number, not %(value)s"),
    "gcode.unknown_action": N_("Unknown @PIFOCUS action %(verb)s: use %(usage)s"),
    "gcode.z_back_failed": N_("A print started while PiFocus moved Z, and moving Z back failed: %(error)s"),
    "gcode.z_return_failed": N_("Moving Z back to the print's Z %(z)s failed: %(error)s"),
    # ~~ the drift watch (plugin/drift_watch.py): found on its own thread, pushed to every browser
    "drift.detected": N_("%(name)s is out of focus: the sharpness stayed %(drop)s percent below the "
                         "baseline (%(score)s, baseline %(baseline)s)."),
    # ~~ follow focus (plugin/device/follow.py): said from the follow timer, pushed to every browser
    "job.follow": N_("the lens follows the toolhead"),
    "follow.no_map": N_("The focus device %(device)s has no focus map: calibrate one (Settings > PiFocus > "
                        "Follow focus), then try again."),
    "follow.lens_unknown": N_("The lens position is unknown: move the lens once (or autofocus) so that follow "
                              "focus knows where it starts."),
    "follow.position_unknown": N_("Where the toolhead is on %(axes)s is not known yet: home the printer (G28) or "
                                  "move it to an absolute position first."),
    "follow.map_uses_z": N_("This focus map depends on Z, but this device focuses with the printer's Z: "
                            "calibrate a map over X and Y for it."),
    "follow.printing_blocked": N_("A print is running: follow focus does not move the printer's Z during a print."),
    "follow.outside": N_("The toolhead is outside the focus map's calibrated range in %(axes)s (device "
                         "%(device)s): the lens stays at the nearest calibrated value until it comes back."),
    "gcode.map_usage": N_("@PIFOCUS MAP takes no value, only an optional DEVICE=, not %(words)s"),
}

#: Labels the plugin shows next to engine values (driver names): code -> English.
LABELS: Dict[str, str] = {
    "simulated": N_("simulated VCM"),
    "i2c": N_("I2C VCM"),
    "v4l2": N_("V4L2 focus control"),
    "camera-streamer": N_("camera-streamer"),
    "printer-z": N_("printer Z"),
    "": N_("none"),
}

Param = Union["Message", str]


def _param(value: Any) -> Param:
    """A parameter as a message keeps it: a nested message (also one given by its English
    text, see :func:`known`), or redacted text."""
    if isinstance(value, Message):
        return value
    text = redact(value if isinstance(value, str) else str(value))
    return known(text) or text


class Message:
    """One message: ``code`` (a key of :data:`CATALOGUE`), its English ``template`` and its
    ``params`` (text, or nested messages that are translated too). ``str()`` is the English
    text."""

    __slots__ = ("code", "template", "params")

    def __init__(self, code: str, **params: Any) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"no message {code!r} in the catalogue")
        self.code = code
        self.template = CATALOGUE[code]
        self.params: Dict[str, Param] = {key: _param(value) for key, value in params.items()}

    def render(self, gettext: Callable[[str], str] = N_) -> str:
        """The text in the language of ``gettext`` (English with the default)."""
        values = {key: (value.render(gettext) if isinstance(value, Message) else value)
                  for key, value in self.params.items()}
        return gettext(self.template) % values

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.code!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.code, self.params) == (other.code, other.params)

    def __hash__(self) -> int:
        return hash(self.code)

    def to_dict(self) -> Dict[str, Any]:
        """JSON for the browser: ``{"code", "template", "params"}``, nested messages alike."""
        return {"code": self.code, "template": self.template,
                "params": {key: (value.to_dict() if isinstance(value, Message) else value)
                           for key, value in self.params.items()}}


def text_of(value: Any) -> Param:
    """What to put in a message for ``value``: its :class:`Message` when it is (or carries) one,
    else its text. Lets a message quote an exception and stay translatable."""
    if isinstance(value, Message):
        return value
    message = getattr(value, "msg", None)
    if isinstance(message, Message):
        return message
    return _param(value)


# ~~ messages that became plain text, found again by that text

#: How many recent messages :func:`known` can find: each lens and camera error of each
#: device, many times over.
REMEMBERED = 2048
_recent: "OrderedDict[str, Message]" = OrderedDict()
_lock = threading.Lock()


def remember(message: Message) -> str:
    """``str(message)``, kept so :func:`known` can find the message again by that text."""
    text = str(message)
    with _lock:
        _recent[text] = message
        _recent.move_to_end(text)
        while len(_recent) > REMEMBERED:
            _recent.popitem(last=False)
    return text


def known(text: Any) -> Optional[Message]:
    """The message whose English text is ``text``, if it was made recently; else None."""
    if not isinstance(text, str) or not text:
        return None
    with _lock:
        message = _recent.get(text)
        if message is not None:
            _recent.move_to_end(text)
        return message


#: The shortest message text :func:`known_in` looks for inside another text.
QUOTED_MIN = 20


def known_in(text: Any) -> List[Tuple[str, Message]]:
    """Recent messages quoted whole inside ``text`` (a plugin sentence around an engine
    message: "Autofocus could not start: <message>"), longest first, not overlapping."""
    if not isinstance(text, str) or len(text) < QUOTED_MIN:
        return []
    with _lock:
        candidates = [(t, m) for t, m in _recent.items() if len(t) >= QUOTED_MIN and t in text and t != text]
    found: List[Tuple[str, Message]] = []
    taken: List[Tuple[int, int]] = []
    for quoted, message in sorted(candidates, key=lambda c: -len(c[0])):
        start = text.find(quoted)
        end = start + len(quoted)
        if not any(start < e and s < end for s, e in taken):
            taken.append((start, end))
            found.append((quoted, message))
    return found


def say(code: str, **params: Any) -> str:
    """The English text of a message, remembered: for engine results that are plain strings."""
    return remember(Message(code, **params))
