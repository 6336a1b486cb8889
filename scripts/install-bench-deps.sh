#!/bin/sh
# Installs what `make bench` needs beyond the venv: wrk, the HTTP load generator, from Debian.
# Pinned to Debian 12 (bookworm)'s version; run as root (or with sudo).
set -eu

WRK_VERSION="4.1.0-3+b2"

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: sudo $0" >&2
    exit 1
fi

# Refresh the package lists only when apt does not know the package yet.
if ! apt-cache show "wrk=${WRK_VERSION}" >/dev/null 2>&1; then
    apt-get update
fi

if apt-cache show "wrk=${WRK_VERSION}" >/dev/null 2>&1; then
    apt-get install -y "wrk=${WRK_VERSION}"
else
    echo "wrk ${WRK_VERSION} (Debian 12) is not available here; installing this release's wrk" >&2
    apt-get install -y wrk
fi

wrk --version 2>&1 | head -n 1 || true
