#!/usr/bin/env bash
# Print the path of a working Python X.Y interpreter (on PATH, or installed by pyenv), or fail.
# Used for the extra Python 3.9 test pass: OctoPi ships 3.9, the development machines 3.11.
set -u
version="${1:?usage: find-python.sh X.Y}"
for candidate in "python$version" "$(pyenv root 2>/dev/null)/versions/$version".*/bin/"python$version"; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys, venv' >/dev/null 2>&1; then
        command -v "$candidate" || echo "$candidate"
        exit 0
    fi
done
echo "no working Python $version found (on PATH or under pyenv)" >&2
exit 1
