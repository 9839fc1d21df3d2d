#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: Chromium and
# Firefox ESR for the browser tests and the pinned npm packages of the
# interop tests (official MCP SDK clients and servers). Parts already present
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing ${need[*]}: run as root or install them with apt-get" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The interop tests' npm packages, at the versions pinned in package-lock.json.
if [ -f tests/interop/package-lock.json ]; then
	(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
