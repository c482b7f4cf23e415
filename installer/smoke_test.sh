#!/usr/bin/env bash
# Smoke test of the built Linux package, as a fresh user on an offline machine would run it:
# unpack the .deb into a scratch root (what `dpkg -i` installs, without needing root), then
# with an empty data folder and no display run
#   1. parley --self-test      the bundled model loads and answers one prompt (exit 0);
#   2. parley import / export  a ChatGPT file in, a PDF out (Qt's platform plugin and fonts
#                              inside the frozen app work);
#   3. parley                  the window starts (offscreen) and keeps running for 10 s.
# Prints the start-up and answer timings.
#
#   installer/smoke_test.sh [dist/parley_<version>_<arch>.deb]
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=${1:-$(ls -t dist/parley_*.deb | head -1)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$DEB" "$WORK/root"
APP=$WORK/root/opt/parley/parley

# The package's own layout.
test "$(readlink "$WORK/root/usr/bin/parley")" = /opt/parley/parley
test -f "$WORK/root/usr/share/applications/parley.desktop"
test -f "$WORK/root/usr/share/icons/hicolor/512x512/apps/parley.png"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$WORK/root/usr/share/applications/parley.desktop"
fi
if find "$WORK/root/opt/parley" -name 'torch*' -o -name 'transformers*' | grep -q .; then
    echo "smoke: torch/transformers found in the package" >&2
    exit 1
fi

# A fresh user: empty data and cache folders, no display, no network needed.
export PARLEY_DATA_DIR=$WORK/data PARLEY_CACHE_DIR=$WORK/cache QT_QPA_PLATFORM=offscreen
export HOME=$WORK/home
unset PARLEY_BUNDLED_MODELS
mkdir -p "$HOME"

t0=$(date +%s.%N)
"$APP" --help >/dev/null
t1=$(date +%s.%N)
"$APP" --self-test | tee "$WORK/selftest.txt"
t2=$(date +%s.%N)
grep -q '^model: .*(bundled: ' "$WORK/selftest.txt"
grep -Eq '^answer:  .*[[:alnum:]]' "$WORK/selftest.txt"
grep -q '^self-test passed$' "$WORK/selftest.txt"

cat > "$WORK/conversations.json" <<'JSON'
[{"title": "Smoke test", "create_time": 1700000000, "conversation_id": "smoke-1",
  "current_node": "b", "mapping": {
  "r": {"id": "r", "message": null, "parent": null, "children": ["a"]},
  "a": {"id": "a", "parent": "r", "children": ["b"], "message": {"author": {"role": "user"},
        "content": {"content_type": "text", "parts": ["Is the PDF writer bundled?"]}}},
  "b": {"id": "b", "parent": "a", "children": [], "message": {"author": {"role": "assistant"},
        "content": {"content_type": "text", "parts": ["Yes: zebra crossing."]}}}}}]
JSON
"$APP" import "$WORK/conversations.json"
"$APP" export --all --format pdf --output "$WORK/out.pdf"
head -c 5 "$WORK/out.pdf" | grep -q '%PDF-'
t3=$(date +%s.%N)

# 3. The window: starts on the offscreen platform with the bundled model and keeps running
#    until stopped (timeout's exit code 124), with no traceback on stderr.
set +e
timeout 10 "$APP" 2>"$WORK/gui.err"
gui=$?
set -e
if [[ $gui -ne 124 ]] || grep -q Traceback "$WORK/gui.err"; then
    echo "smoke: the window did not keep running (exit $gui):" >&2
    cat "$WORK/gui.err" >&2
    exit 1
fi

printf 'smoke: --help %.2f s, --self-test %.2f s (whole process), import+PDF export %.2f s\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"
echo "smoke: app folder $(du -sh "$WORK/root/opt/parley" | cut -f1), package $(du -h "$DEB" | cut -f1)"
echo "smoke: passed"
