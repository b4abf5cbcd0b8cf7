"""What the package and its plugin-repository listing promise, checked against each other."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

import octoprint_pifocus
from octoprint_pifocus import compat

ROOT = Path(__file__).resolve().parents[1]
LISTING = ROOT / "extras" / "pifocus.md"
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def front_matter() -> dict:
    text = LISTING.read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "the listing must start with YAML front matter between --- lines"
    return yaml.safe_load(match.group(1))


def test_licence_is_the_agpl_text_and_declared_as_spdx():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in licence
    assert re.search(r'^license = "AGPL-3.0-or-later"$', PYPROJECT, re.M)
    assert 'license-files = ["LICENSE"]' in PYPROJECT
    assert octoprint_pifocus.__plugin_license__ == "AGPL-3.0-or-later"


def test_version_has_one_home():
    assert not re.search(r'^version\s*=\s*"', PYPROJECT, re.M), "the version lives in octoprint_pifocus.__version__"
    assert 'dynamic = ["version"]' in PYPROJECT
    assert 'version = { attr = "octoprint_pifocus.__version__" }' in PYPROJECT
    assert octoprint_pifocus.__plugin_version__ == octoprint_pifocus.__version__


def test_listing_matches_the_plugin():
    meta = front_matter()
    assert meta["layout"] == "plugin"
    assert meta["id"] == "pifocus"
    assert meta["title"] == octoprint_pifocus.__plugin_name__
    assert meta["license"] == octoprint_pifocus.__plugin_license__
    assert meta["archive"].endswith(".zip") and meta["archive"].startswith(meta["source"])
    assert meta["compatibility"]["octoprint"] == [f">={compat.OCTOPRINT_MIN_TEXT}.0"]
    assert meta["compatibility"]["python"] == octoprint_pifocus.__plugin_pythoncompat__
    assert f'requires-python = "{octoprint_pifocus.__plugin_pythoncompat__.split(",")[0]}"' in PYPROJECT
    assert f'"OctoPrint>={compat.OCTOPRINT_MIN_TEXT}"' in PYPROJECT


def test_listing_screenshots_are_in_the_repository():
    meta = front_matter()
    urls = [shot["url"] for shot in meta["screenshots"]] + [meta["featuredimage"]]
    for url in urls:
        path = ROOT / url.split("/main/", 1)[1]
        assert path.is_file(), f"{url}: no {path.relative_to(ROOT)} (scripts/update-screenshots.sh)"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
