#!/usr/bin/env bash
# Debian packages that pip cannot bring, installed only when missing (quiet otherwise; needs
# root or sudo to install):
#   scripts/system-deps.sh build [PYTHON]  what building the venv needs: the venv module
#                                          (python3-venv) and, for OctoPrint's netifaces, which
#                                          has no wheel for Python 3.11+, a C compiler
#                                          (build-essential) and Python's headers (python3-dev)
#   scripts/system-deps.sh test            Chromium for the browser tests (Playwright drives
#                                          Debian's build; it must not download its own) and
#                                          ffmpeg, the real third-party MJPEG streamer the
#                                          timing tests and bench/streamer.py serve frames through
set -euo pipefail
what="${1:-test}"
python="${2:-python3}"
packages=()
case "$what" in
    build)
        "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
        command -v cc >/dev/null 2>&1 || packages+=(build-essential)
        "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
            >/dev/null 2>&1 || packages+=(python3-dev)
        ;;
    test)
        packages+=(chromium ffmpeg)
        ;;
    *)
        echo "usage: $0 build [PYTHON] | test" >&2; exit 2 ;;
esac
missing=()
for pkg in "${packages[@]+"${packages[@]}"}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: need root to install ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
