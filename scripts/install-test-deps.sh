#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: Chromium for
# the browser tests, nginx and wrk for the benchmark, and the npm packages of
# the interop tests. Already-installed parts are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing ${need[*]}: run as root or install them with apt-get" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
