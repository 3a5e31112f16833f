#!/usr/bin/env bash
# Install the Debian packages the tests drive (real SIP peers, PostgreSQL) when they are missing.
set -euo pipefail

declare -A wanted=(
  [sipp]=sip-tester
  [sipsak]=sipsak
  [baresip]=baresip
  [svmap]=sipvicious
  [pg_ctlcluster]=postgresql
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
