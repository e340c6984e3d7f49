#!/bin/bash
# Runs the C tests under valgrind memcheck, in their own build directory:
# any invalid read or write, use of uninitialised memory, or *definite* leak
# fails the run (possible and reachable ones — GLib's type system, quarks,
# caches made once per process — do not).
#
#   tools/valgrind.sh              the default subset (below), ~2-4 minutes
#   tools/valgrind.sh TEST...      these meson tests instead
#
# Only the test processes run under valgrind, not the worker processes they
# start (valgrind's start-up would trip the handshake and task timeouts);
# the worker side of the library is covered by the ASan+UBSan run of
# tools/test.sh and by the fuzz targets (tools/fuzz.sh).
#
# Environment: VALGRIND_DIR (default _build-valgrind).
set -eu
cd "$(dirname "$0")/.."

DIR=${VALGRIND_DIR:-_build-valgrind}
# The default subset: the channel (all of it), errors, the hostile workers
# (every protocol error path in the parent), the pool's own tests, and the
# worker and its handle without a pool.
# The chaos test is left out: 3000 tasks under valgrind take too long.
TESTS=${*:-"test-wire test-error test-hostile test-process-task-pool test-lifecycle test-worker test-worker-proc test-pool-direct test-pool-job"}

if ! command -v valgrind >/dev/null; then
  echo "valgrind.sh: valgrind not found (apt-get install valgrind)" >&2
  exit 1
fi

if [ -f "$DIR/build.ninja" ]; then
  meson setup "$DIR" --reconfigure >/dev/null
else
  meson setup "$DIR" -Dwerror=true -Dintrospection=disabled -Ddocumentation=disabled \
    -Dbenchmarks=false -Dexamples=false >/dev/null
fi
meson compile -C "$DIR" >/dev/null

supp="--suppressions=$PWD/tests/valgrind.supp"
if [ -f /usr/share/glib-2.0/valgrind/glib.supp ]; then
  supp="$supp --suppressions=/usr/share/glib-2.0/valgrind/glib.supp"
fi

# G_SLICE=always-malloc: GLib 2.74's slice allocator hides leaks and reuse.
# --trace-children=no: the workers run natively (see above).
# shellcheck disable=SC2086
G_SLICE=always-malloc G_DEBUG=gc-friendly \
  meson test -C "$DIR" --print-errorlogs --num-processes 2 --timeout-multiplier 8 \
    --wrapper "valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
      --errors-for-leak-kinds=definite --show-leak-kinds=definite \
      --track-origins=yes --trace-children=no --num-callers=30 $supp" \
    $TESTS
