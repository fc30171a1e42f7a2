#!/bin/sh
# Installs a Chromium that Playwright can drive: Playwright's own build where it can be
# downloaded, else Debian's `chromium` package (apt-get, when missing and running as root).
# BROWSER_EXECUTABLE, when set to a path, skips all of this.
set -eu
python=${1:-.venv/bin/python}

if [ -n "${BROWSER_EXECUTABLE:-}" ] && [ "${BROWSER_EXECUTABLE}" != "auto" ]; then
    echo "install-browser: using BROWSER_EXECUTABLE=${BROWSER_EXECUTABLE}"
    exit 0
fi

if timeout 600 "$python" -m playwright install chromium; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        "$python" -m playwright install-deps chromium
    fi
    echo "install-browser: Playwright's Chromium is installed"
    exit 0
fi

echo "install-browser: Playwright's download failed; using Debian's chromium instead"
if command -v chromium >/dev/null 2>&1; then
    echo "install-browser: found $(command -v chromium)"
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    echo "install-browser: installed $(command -v chromium)"
    exit 0
fi
echo "install-browser: no Chromium: run 'sudo apt-get install chromium' or set BROWSER_EXECUTABLE" >&2
exit 1
