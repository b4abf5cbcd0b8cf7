"""Which OctoPrint PiFocus runs on, checked before the plugin is loaded.

PiFocus needs OctoPrint 1.9 or newer (``octoprint.schema`` and several webcams per printer
came with 1.9). On an older OctoPrint, importing the plugin layer fails with a traceback
(``No module named 'octoprint.schema'``); :func:`check_octoprint` runs first, from
``__plugin_check__``, and says in one log line what is needed instead.
"""
from __future__ import annotations

import logging
import re
from typing import Optional, Tuple

#: The oldest OctoPrint PiFocus loads on (1.9.3, 1.10.3 and 1.11.8 were checked).
OCTOPRINT_MIN: Tuple[int, int] = (1, 9)
OCTOPRINT_MIN_TEXT = ".".join(str(part) for part in OCTOPRINT_MIN)


def parse_version(text: str) -> Optional[Tuple[int, ...]]:
    """The leading release numbers of a version string ("1.10.0rc2" -> (1, 10, 0)); None
    when it has none."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def octoprint_supported(version: str) -> bool:
    """Whether PiFocus runs on this OctoPrint version. A version nobody can parse (a source
    checkout without tags) is given the benefit of the doubt."""
    parsed = parse_version(version)
    return parsed is None or parsed[:2] >= OCTOPRINT_MIN


def check_octoprint(logger: Optional[logging.Logger] = None) -> bool:
    """``__plugin_check__``: True on a supported OctoPrint; otherwise one error line, False."""
    try:
        import octoprint

        version = str(getattr(octoprint, "__version__", "") or "")
    except ImportError:  # not inside OctoPrint: nothing to check
        return True
    if octoprint_supported(version):
        return True
    (logger or logging.getLogger("octoprint.plugins.pifocus")).error(
        "PiFocus needs OctoPrint %s or newer, this is OctoPrint %s: PiFocus is not loaded. "
        "Update OctoPrint (Settings > Software Update), then restart it.", OCTOPRINT_MIN_TEXT, version)
    return False
