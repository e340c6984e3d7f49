#!/bin/sh
# Runs a GTK demo (the command line "$@": fractal, fractal.py or gjs -m
# fractal.js) in --test-mode in a private X server (Xvfb), the way the
# `gtk` suite of examples/gtk/meson.build does. GTK renders in software
# there; the cairo renderer is the cheapest one, so the frame figures
# measure the pool's effect on the UI thread, not GL emulation.
set -eu
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "xvfb-run is missing: install xvfb and xauth (tools/install-deps.sh)" >&2
  exit 1
fi
exec xvfb-run -a -s "-screen 0 1280x1024x24" \
  env GDK_BACKEND=x11 GSK_RENDERER="${GSK_RENDERER:-cairo}" NO_AT_BRIDGE=1 "$@" --test-mode
