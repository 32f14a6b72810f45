#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/browser), installed only if it is
# missing. Playwright drives it through executable_path; no browser download.
set -euo pipefail

CHROMIUM="${COLLOQUY_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian's chromium for the browser tests"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
"$CHROMIUM" --version
