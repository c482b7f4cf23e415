#!/usr/bin/env bash
# Build Parley for macOS: stage the starter model, freeze into dist/Parley.app with
# PyInstaller, smoke-test it, and wrap it in a compressed disk image with an Applications
# link. Run on the architecture you ship (arm64 on Apple silicon; x86_64 on Intel):
#
#   installer/macos/build_macos.sh      -> dist/Parley-<version>-<arch>.dmg
#
# Needs: Python 3.11 (python.org or Homebrew), Xcode command line tools (iconutil, hdiutil).
# Signing/notarisation (for distribution outside your own machines), after the build:
#   codesign --deep --force --options runtime --sign "Developer ID Application: …" dist/Parley.app
#   xcrun notarytool submit dist/Parley-*.dmg --keychain-profile … --wait
#   xcrun stapler staple dist/Parley-*.dmg
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv-build}
PY=$VENV/bin/python
start=$(date +%s)

[[ -x $PY ]] || python3 -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q -e ".[cpu,build]"   # CoreML/CPU: onnxruntime's macOS wheel

"$PY" installer/stage_model.py --dest build/staging/models

# The .icns from the PNG.
ICONSET=build/parley.iconset
rm -rf "$ICONSET" && mkdir -p "$ICONSET"
for size in 16 32 128 256 512; do
    sips -z $size $size resources/parley.png --out "$ICONSET/icon_${size}x${size}.png" >/dev/null
    sips -z $((size * 2)) $((size * 2)) resources/parley.png \
        --out "$ICONSET/icon_${size}x${size}@2x.png" >/dev/null
done
iconutil -c icns "$ICONSET" -o build/parley.icns
export PARLEY_ICNS=$PWD/build/parley.icns

rm -rf dist/parley dist/Parley.app
"$VENV/bin/pyinstaller" build.spec --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller

# Smoke test: a fresh user, no display needed.
PARLEY_DATA_DIR=$(mktemp -d) QT_QPA_PLATFORM=offscreen \
    dist/Parley.app/Contents/MacOS/parley-cli --self-test

VERSION=$("$PY" -c "import importlib.metadata as m; print(m.version('parley-desktop'))")
ARCH=$(uname -m)
STAGE=build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R dist/Parley.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname Parley -srcfolder "$STAGE" -ov -format UDZO \
    "dist/Parley-${VERSION}-${ARCH}.dmg"
echo "built dist/Parley-${VERSION}-${ARCH}.dmg in $(($(date +%s) - start)) s"
