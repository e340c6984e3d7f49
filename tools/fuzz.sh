#!/bin/bash
# Builds the channel's libFuzzer targets (clang, -fsanitize=fuzzer,address,
# undefined) and runs each for FUZZ_SECONDS (default 60) from the seed corpus
# in fuzz/corpus/<target>/. Any crash, leak, hang (-timeout), allocation over
# -malloc_limit_mb or RSS over -rss_limit_mb fails the run; the reproducer is
# left in $FUZZ_DIR/artifacts/.
#
#   tools/fuzz.sh                 build and run every target
#   tools/fuzz.sh wire-frames-pool   one target
#   tools/fuzz.sh --build-only
#   tools/fuzz.sh --regen-corpus  rewrite fuzz/corpus/ from fuzz/gen-corpus.c
#
# Environment: FUZZ_SECONDS, FUZZ_DIR (default _build-fuzz), CC (default clang);
# for looking past a known bug while it is open: FUZZ_ALLOW_FLOATING=1 (decoded
# values may be floating), FUZZ_SKIP_ROUNDTRIP=1 (no encoder check).
set -eu
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
OUT=${FUZZ_DIR:-_build-fuzz}
CC=${CC:-clang}
TARGETS="wire-frames-pool wire-frames-worker wire-messages-pool wire-messages-worker"

build_only=0
regen=0
only=""
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    --regen-corpus) regen=1 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) only="$only $arg" ;;
  esac
done
[ -n "$only" ] && TARGETS=$only

if ! command -v "$CC" >/dev/null; then
  echo "fuzz.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

mkdir -p "$OUT/artifacts"
GLIB_CFLAGS=$(pkg-config --cflags gio-2.0 gio-unix-2.0)
GLIB_LIBS=$(pkg-config --libs gio-2.0 gio-unix-2.0)
# The channel's sources, compiled with fuzz/config.h; nothing else of the
# library is linked, so these targets depend on no meson build directory.
SRCS="asynccpu-glib/acpu-wire.c asynccpu-glib/acpu-wire-read.c asynccpu-glib/acpu-wire-message.c
  asynccpu-glib/acpu-error.c"
COMMON="-g -O1 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror
  -Ifuzz -Iasynccpu-glib -DACPU_COMPILATION -DG_LOG_DOMAIN=\"ACpu\"
  -DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 -DGLIB_VERSION_MAX_ALLOWED=GLIB_VERSION_2_74
  $GLIB_CFLAGS"
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

build_target () {
  local target=$1 src reader
  case "$target" in
    wire-frames-*) src=fuzz/fuzz-wire-frames.c ;;
    wire-messages-*) src=fuzz/fuzz-wire-messages.c ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  case "$target" in
    *-pool) reader=ACPU_WIRE_READER_POOL ;;
    *-worker) reader=ACPU_WIRE_READER_WORKER ;;
  esac
  # shellcheck disable=SC2086
  $CC $COMMON $SAN -DFUZZ_READER=$reader -o "$OUT/$target" $src $SRCS $GLIB_LIBS
}

if [ $regen = 1 ]; then
  # shellcheck disable=SC2086
  $CC $COMMON -o "$OUT/gen-corpus" fuzz/gen-corpus.c $SRCS $GLIB_LIBS
  rm -rf fuzz/corpus
  "$OUT/gen-corpus" fuzz/corpus
  find fuzz/corpus -type f | sort
  exit 0
fi

for t in $TARGETS; do
  build_target "$t"
done
[ $build_only = 1 ] && exit 0

status=0
for t in $TARGETS; do
  # The seeds in the tree stay as they are; what the fuzzer finds goes to a
  # scratch corpus in the build directory (kept between runs).
  work="$OUT/corpus/$t"
  mkdir -p "$work"
  echo "== $t: ${SECONDS_PER_TARGET}s =="
  # -malloc_limit_mb: any single allocation over 64 MiB is a failure (inputs
  #   are at most 64 KiB, the limit in the targets is 1 GiB: only a length
  #   read from the input could ask for that much).
  # -rss_limit_mb: the whole process stays under 1 GiB.
  # -timeout: one input taking over 10 s is a hang.
  # G_SLICE=always-malloc: with GLib 2.74's slice allocator a leaked
  #   GVariant sits in a magazine LeakSanitizer counts as reachable.
  if ! G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       G_DEBUG=fatal-criticals \
       "$OUT/$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
         -rss_limit_mb=1024 -malloc_limit_mb=64 -timeout=10 \
         -print_final_stats=1 \
         -artifact_prefix="$OUT/artifacts/$t-" \
         "$work" "fuzz/corpus/$t" 2>"$OUT/$t.log"; then
    echo "FAIL: $t (log: $OUT/$t.log)"
    tail -n 60 "$OUT/$t.log"
    status=1
  else
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|cov: .*ft:" "$OUT/$t.log" | tail -n 3
  fi
done
exit $status
