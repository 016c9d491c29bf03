#!/bin/sh
# Build DECTRIS's Neggia XDS plugin (dectris-neggia.so) for the real-reader test in
# tests/test_pixel_mask.py, which runs when NEGGIA_PLUGIN names the plugin:
#   NEGGIA_PLUGIN=$(scripts/build-neggia.sh) .venv/bin/python -m pytest tests/test_pixel_mask.py
# Needs git, cmake and a C++ compiler, and the network (or NEGGIA_GIT=<a local clone>); CI does
# not run it. Prints the plugin's path. Usage: scripts/build-neggia.sh [DIR] (default ~/.cache/neggia)
set -eu
dir=${1:-$HOME/.cache/neggia}
source=${NEGGIA_GIT:-https://github.com/dectris/neggia}
rev=a81bdf8a994f18c61a313f57810651a76a218f17  # Neggia 1.2.0, the release XDS sites run
[ -d "$dir/src/.git" ] || git clone -q "$source" "$dir/src"
git -C "$dir/src" -c advice.detachedHead=false checkout -q "$rev"
log="$dir/build.log"
{ cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF &&
  cmake --build "$dir/build" -j2 --target dectris-neggia; } >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
echo "$dir/build/src/dectris/neggia/plugin/dectris-neggia.so"
