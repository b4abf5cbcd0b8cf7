#!/usr/bin/env bash
# Debian packages the test suite needs that pip cannot bring: Chromium for the browser tests
# (Playwright drives Debian's build; it must not download its own). Idempotent and quiet
# when everything is there; needs root (or sudo) to install.
set -euo pipefail
packages=(chromium)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: need root to install ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
