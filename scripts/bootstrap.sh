#!/usr/bin/env bash
# Idempotent set-up for the README's commands: system packages, a virtual environment, and this
# package in editable mode with its test extras. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}

# mxcubecore pins Python 3.10-3.11: take python3.11, else python3 if it is one of those.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 11)))'; then
      PY=$candidate; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "bootstrap: mxcubecore 2.149 needs Python 3.10 or 3.11; none found (set PYTHON=...)" >&2
  exit 1
fi
pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

# System packages, each only when what it provides is missing:
# - gcc and Python's headers: python-ldap (mxcubecore) has no wheel and builds against
#   libldap2-dev and libsasl2-dev;
# - venv/ensurepip for a Debian Python;
# - the shared libraries PySide6 (Qt tests, offscreen) and OpenCV (mxcubeweb's video-streamer) load.
need_apt=()
for pkg in libldap2-dev libsasl2-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
command -v gcc >/dev/null 2>&1 || need_apt+=(build-essential)
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || need_apt+=("python${pyver}-dev")
if [ ! -x "$VENV/bin/python" ] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need_apt+=("python${pyver}-venv")
fi
shared_libs=(
  "libEGL.so.1 libegl1" "libGL.so.1 libgl1" "libxkbcommon.so.0 libxkbcommon0"
  "libfontconfig.so.1 libfontconfig1" "libglib-2.0.so.0 libglib2.0-0" "libdbus-1.so.3 libdbus-1-3"
  "libSM.so.6 libsm6" "libICE.so.6 libice6" "libXext.so.6 libxext6" "libX11.so.6 libx11-6"
)
missing_libs=()
known_libs=$(ldconfig -p 2>/dev/null || true)
for entry in "${shared_libs[@]}"; do
  set -- $entry
  grep -q "$1 " <<<"$known_libs" || missing_libs+=("$2")
done

if [ ${#need_apt[@]} -gt 0 ] || [ ${#missing_libs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    # Debian 13 renamed some library packages (the t64 transition): take the name it offers.
    for pkg in "${missing_libs[@]}"; do
      # (read the whole answer first: grep -q closing the pipe early fails it under pipefail)
      policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
      if grep -q 'Candidate: [^(]' <<<"$policy"; then
        need_apt+=("$pkg")
      else
        need_apt+=("${pkg}t64")
      fi
    done
    echo "bootstrap: installing system packages: ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: please install ${need_apt[*]} ${missing_libs[*]}" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $PY ($pyver)"
  "$PY" -m venv "$VENV"
fi

# Re-install only when the dependency declaration changed.
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing mxcubecore-interleave[test] (editable)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test,audit]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
