#!/usr/bin/env bash
# Install the Debian packages the tests drive (real SIP peers, PostgreSQL) and the C compiler
# the native build needs, when they are missing.
set -euo pipefail

declare -A wanted=(
  [sipp]=sip-tester
  [sipsak]=sipsak
  [baresip]=baresip
  [svmap]=sipvicious
  [pg_ctlcluster]=postgresql
  [gcc]=gcc
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# Python.h for the interpreter the venv is made from (Debian's python3-dev; pyenv ships its own)
"${PYTHON:-python3}" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
