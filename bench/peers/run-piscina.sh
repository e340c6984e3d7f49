#!/bin/sh
# Runs piscina_bench.mjs, installing piscina into bench/peers/node_modules
# (gitignored) on first use. Prints piscina_… lines, or a `#` note.
here=$(dirname "$0")
command -v node >/dev/null 2>&1 || { echo "# piscina: node not found"; exit 0; }
if [ ! -d "$here/node_modules/piscina" ]; then
  command -v npm >/dev/null 2>&1 || { echo "# piscina: npm not found"; exit 0; }
  (cd "$here" && npm install --no-audit --no-fund --silent >/dev/null 2>&1) ||
    { echo "# piscina: npm install failed"; exit 0; }
fi
exec node "$here/piscina_bench.mjs" "$@"
