#!/bin/bash
# Builds asynccpu-glib and runs the whole test suite: once in a normal build
# (C, Python and GJS tests, docs), once under AddressSanitizer + UBSan, then
# the channel's fuzz targets (60 s each) and the C tests under valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
sh tools/install-deps.sh all

# The Python tests need the interpreter that has PyGObject: Debian's.
export PATH=/usr/bin:$PATH

setup () {
  dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup "$dir" --reconfigure "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

setup _build-test -Dwerror=true
meson compile -C _build-test >/dev/null
log=$(mktemp)
# The engines the launcher tests started (sshd, Slurm) stop with the run.
trap 'rm -f "$log"; bash tests/engines/run.sh stop' EXIT
meson test -C _build-test --print-errorlogs --num-processes 2 | tee "$log"

echo "== the suite again under AddressSanitizer and UBSan =="
setup _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
  -Dintrospection=disabled -Ddocumentation=disabled -Dbenchmarks=false
meson compile -C _build-asan >/dev/null
# G_SLICE=always-malloc: so LeakSanitizer sees a leaked GVariant (GLib 2.74's
# slice allocator would keep it reachable).
G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C _build-asan --print-errorlogs --num-processes 2 --no-suite bindings | tee -a "$log"

echo "== fuzz smoke: each channel fuzz target for ${FUZZ_SECONDS:=60} s =="
FUZZ_SECONDS=$FUZZ_SECONDS bash tools/fuzz.sh

echo "== C tests under valgrind memcheck =="
bash tools/valgrind.sh | tee -a "$log"

# One plain closing line for all three runs (each exits non-zero on a failure).
passed=$(awk '/^Ok:/ { n += $2 } END { print n + 0 }' "$log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $NF } END { print n + 0 }' "$log")
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
