#!/bin/sh
# Installs PostgreSQL 15 from Debian 12 (bookworm), pinned, for the PostgreSQL store's tests and
# benchmarks (issue 18). They never use the package's own cluster: scripts/postgres.sh starts a
# throwaway one in a temporary folder with the binaries in /usr/lib/postgresql/15/bin.
# `make test` runs it; it does nothing when PostgreSQL 15 is already there.
set -eu

PACKAGES="postgresql-15=15.18-0+deb12u1 postgresql-client-15=15.18-0+deb12u1"

if [ -x /usr/lib/postgresql/15/bin/postgres ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$0" "$@"
    fi
    echo "install-postgres: run as root to install: $PACKAGES" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the pinned versions yet.
if ! apt-cache show postgresql-15=15.18-0+deb12u1 >/dev/null 2>&1; then
    apt-get update -qq
fi
# shellcheck disable=SC2086  # the list is word-split on purpose
if ! apt-get install -y -qq --no-install-recommends $PACKAGES; then
    echo "install-postgres: the pinned versions are not available; installing this release's" >&2
    apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15
fi
