#!/bin/sh
# Copy the browser tests' screenshots that the plugin listing (extras/pifocus.md) shows into
# extras/screenshots/. Run `make test` (or the browser tests) first: they write test-artifacts/.
set -eu
cd "$(dirname "$0")/.."
cp test-artifacts/pifocus-sidebar-autofocus.png extras/screenshots/sidebar-autofocus.png
cp test-artifacts/pifocus-settings-roi.png extras/screenshots/settings-roi.png
echo "extras/screenshots/ updated from test-artifacts/"
