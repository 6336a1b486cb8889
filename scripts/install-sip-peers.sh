#!/bin/sh
# Installs what the SIP tests (issue 6) need from Debian 12 (bookworm), pinned:
#   sipp (package sip-tester) and baresip as real SIP peers, espeak-ng for SpeakSentence,
#   and curl, which two tests run as the docs and the demo banner tell users to.
# `make test` runs it; it does nothing when every tool is already there.
set -eu

PACKAGES="sip-tester=1:3.6.1-1+b2 baresip-core=1.0.0-4+b3 espeak-ng=1.51+dfsg-10+deb12u2 \
curl=7.88.1-10+deb12u15"

if command -v sipp >/dev/null && command -v baresip >/dev/null && command -v espeak-ng >/dev/null \
    && command -v curl >/dev/null
then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$0" "$@"
    fi
    echo "install-sip-peers: run as root to install: $PACKAGES" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the pinned versions yet.
if ! apt-cache show sip-tester=1:3.6.1-1+b2 >/dev/null 2>&1; then
    apt-get update -qq
fi
# shellcheck disable=SC2086  # the list is word-split on purpose
if ! apt-get install -y -qq --no-install-recommends $PACKAGES; then
    echo "install-sip-peers: the pinned versions are not available; installing this release's" >&2
    apt-get install -y -qq --no-install-recommends sip-tester baresip-core espeak-ng curl
fi
