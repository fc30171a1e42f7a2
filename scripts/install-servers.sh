#!/bin/sh
# Installs the servers the tests start for themselves (in temporary folders, on loopback):
# Debian's postgresql and redis-server, with apt-get, when missing and running as root.
set -eu

missing=""
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
    missing="$missing postgresql"
fi
if ! command -v redis-server >/dev/null 2>&1; then
    missing="$missing redis-server"
fi
if [ -z "$missing" ]; then
    echo "install-servers: postgresql and redis-server are installed"
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    # Whatever service the packages start is left alone: the tests start servers of their own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    echo "install-servers: installed$missing"
    exit 0
fi
echo "install-servers: missing$missing: run 'sudo apt-get install$missing'" >&2
exit 1
