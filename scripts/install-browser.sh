#!/bin/sh
# Installs what the web console's browser tests (issue 14) need from Debian 12 (bookworm),
# pinned: chromium, run headless by Playwright for Python (Playwright's own browser download is
# not reachable here, so the tests point it at /usr/bin/chromium).
# `make test` runs it; it does nothing when chromium is already there.
set -eu

PACKAGES="chromium=150.0.7871.100-1~deb12u1"

if command -v chromium >/dev/null; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$0" "$@"
    fi
    echo "install-browser: run as root to install: $PACKAGES" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the pinned version yet.
if ! apt-cache show "$PACKAGES" >/dev/null 2>&1; then
    apt-get update -qq
fi
# shellcheck disable=SC2086  # the list is word-split on purpose
if ! apt-get install -y -qq --no-install-recommends $PACKAGES; then
    echo "install-browser: the pinned version is not available; installing this release's" >&2
    apt-get install -y -qq --no-install-recommends chromium
fi
