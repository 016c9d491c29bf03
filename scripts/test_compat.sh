#!/usr/bin/env bash
# make test-compat: the test suite against the LOWEST mxcubecore that pyproject.toml declares.
# A second venv (.venv-compat) holds that mxcubecore and this checkout; every other package comes
# from the main venv (appended by a .pth line, after the compat venv's own packages), after a
# check that they satisfy that mxcubecore's own requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
COMPAT=${COMPAT_VENV:-.venv-compat}
bash scripts/bootstrap.sh

low=$("$VENV/bin/python" - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
spec = next(d for d in deps if re.match(r"mxcubecore\b", d))
m = re.search(r">=\s*([0-9][0-9.]*)", spec)
if not m:
    raise SystemExit(f"test-compat: no lower bound in {spec!r}")
print(m.group(1))
PY
)
if [ ! -x "$COMPAT/bin/python" ]; then
  "$VENV/bin/python" -m venv --without-pip "$COMPAT"
fi
site=$("$COMPAT/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
main_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD" > "$site/00-checkout.pth"
echo "$main_site" > "$site/zz-main-venv.pth"
# the main venv's console scripts (mxcube-interleave, nxvalidate, hdf5-vds-check, ...), run by
# the compat venv's interpreter: the tests call them next to sys.executable
compat_py="$(cd "$COMPAT" && pwd)/bin/python"
for script in "$VENV"/bin/*; do
  name=$(basename "$script")
  [ -e "$COMPAT/bin/$name" ] && continue
  head -1 "$script" | grep -q "^#!.*/python" || continue
  { echo "#!$compat_py"; tail -n +2 "$script"; } > "$COMPAT/bin/$name"
  chmod +x "$COMPAT/bin/$name"
done
have=$("$COMPAT/bin/python" -c 'import importlib.metadata as m; print(m.version("mxcubecore"))' 2>/dev/null || true)
if [ "${have%.0}" != "${low%.0}" ] || [ ! -d "$site/mxcubecore" ]; then
  echo "test-compat: installing mxcubecore==$low in $COMPAT"
  "$VENV/bin/python" -m pip install -q --no-deps --target "$site" --upgrade "mxcubecore==$low"
fi
"$COMPAT/bin/python" - <<'PY'
import importlib.metadata as md
import mxcubecore
from packaging.requirements import Requirement

dist = md.distribution("mxcubecore")
bad = []
for text in dist.requires or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        v = md.version(req.name)
    except md.PackageNotFoundError:
        bad.append(f"{req} (missing)")
        continue
    if req.specifier and not req.specifier.contains(v, prereleases=True):
        bad.append(f"{req} (installed {v})")
if bad:
    raise SystemExit("test-compat: the main venv does not satisfy mxcubecore " + dist.version + ": " + "; ".join(bad))
print(f"test-compat: mxcubecore {dist.version} from {mxcubecore.__file__}")
PY
QT_QPA_PLATFORM=offscreen "$COMPAT/bin/python" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-}
