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

# Every pass runs even when one before it failed, so one failure does not
# hide the others; the verdict comes at the end. (set -e does not apply
# inside a tested command: the steps of a pass are chained with &&.)
log=$(mktemp)
# The engines the launcher tests started (sshd, Slurm) stop with the run.
trap 'rm -f "$log"; bash tests/engines/run.sh stop' EXIT
failed_passes=""

# pass NAME TITLE COMMAND...: runs one pass, its output also into $log.
pass () {
  name=$1; title=$2; shift 2
  echo "== $title =="
  if ! ( set -o pipefail; "$@" 2>&1 | tee -a "$log" ); then
    failed_passes="$failed_passes $name"
  fi
}

normal () {
  setup _build-test -Dwerror=true &&
  meson compile -C _build-test >/dev/null &&
  meson test -C _build-test --print-errorlogs --num-processes 2
}

asan () {
  setup _build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dintrospection=disabled -Ddocumentation=disabled -Dbenchmarks=false &&
  meson compile -C _build-asan >/dev/null &&
  # G_SLICE=always-malloc: so LeakSanitizer sees a leaked GVariant (GLib
  # 2.74's slice allocator would keep it reachable).
  G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C _build-asan --print-errorlogs --num-processes 2 --no-suite bindings
}

pass suite "the suite" normal
pass asan "the suite again under AddressSanitizer and UBSan" asan
pass fuzz "fuzz smoke: each channel fuzz target for ${FUZZ_SECONDS:=60} s" \
  env FUZZ_SECONDS="$FUZZ_SECONDS" bash tools/fuzz.sh
pass valgrind "C tests under valgrind memcheck" bash tools/valgrind.sh

# One plain closing line for all the passes.
passed=$(awk '/^Ok:/ { n += $2 } END { print n + 0 }' "$log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $NF } END { print n + 0 }' "$log")
echo "$passed passed, $failed failed"
if [ -n "$failed_passes" ]; then
  echo "failed passes:$failed_passes"
  exit 1
fi
[ "$failed" = 0 ]
