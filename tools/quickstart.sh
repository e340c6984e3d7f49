#!/bin/sh
# Builds asynccpu-glib and runs the quick start (examples/quickstart.c).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh quickstart
[ -f _build-quickstart/build.ninja ] ||
  meson setup _build-quickstart -Dintrospection=disabled -Ddocumentation=disabled \
    -Dtests=false -Dbenchmarks=false >/dev/null
ninja -C _build-quickstart examples/quickstart >/dev/null
exec ./_build-quickstart/examples/quickstart
