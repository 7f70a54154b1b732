#!/usr/bin/env bash
# The packaging check that CI runs: builds the sdist and the wheel, runs twine check on them, checks that the
# sdist ships the README, CHANGELOG, LICENSE and py.typed, then installs each into an empty virtualenv, where
# scripts/check_installed.py imports every module and sends a message through a private redis-server.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

apt_install redis-server:redis-server
make_venv package
cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$VENV/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
sdist="$(echo "$work"/dist/*.tar.gz)"
wheel="$(echo "$work"/dist/*.whl)"
"$VENV/bin/twine" check --strict "$sdist" "$wheel"

shipped="$(tar -tzf "$sdist")"
for file in README.md CHANGELOG.md LICENSE channels_fanout/py.typed; do
    grep -qx "[^/]*/$file" <<<"$shipped" || { echo "The sdist lacks $file" >&2; exit 1; }
done

for dist in "$wheel" "$sdist"; do
    env="$work/venv-$(basename "$dist")"
    "$PYTHON" -m venv "$env"
    # The optional extras too, so that every module imports.
    "$env/bin/python" -m pip install -q --disable-pip-version-check "$dist[cryptography,prometheus]"
    # From the scratch folder, so that the checkout's channels_fanout cannot be what imports.
    (cd "$work" && "$env/bin/python" "$ROOT/scripts/check_installed.py" "$ROOT")
done
echo "Packaging check passed: $(basename "$sdist"), $(basename "$wheel")"
