# tests/engines/common.sh — sourced by the engine scripts: where an engine
# keeps its state, and a lock so that parallel tests start it once.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

ENGINES_DIR=${ACPU_ENGINES_DIR:-${TMPDIR:-/tmp}/acpu-engines-$(id -u)}

# with_lock NAME CMD…: runs CMD with the engine's lock held (flock), so that
# two tests starting the same engine at once start it once.
with_lock () {
  name=$1; shift
  mkdir -p "$ENGINES_DIR"
  (
    flock -w 120 9 || { echo "engines: could not lock $name" >&2; exit 1; }
    "$@"
  ) 9>"$ENGINES_DIR/$name.lock"
}

# alive PIDFILE: whether the process named in PIDFILE runs.
alive () {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pidfile PIDFILE: SIGTERM, then SIGKILL after 5 s, the process in it.
stop_pidfile () {
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  if kill -TERM "$pid" 2>/dev/null; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# wait_for SECONDS CMD…: retries CMD every 0.2 s until it succeeds.
wait_for () {
  secs=$1; shift
  end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# free_port FIRST: the first TCP port from FIRST up (100 tried) that nobody
# listens on at 127.0.0.1. Engines share the host's network even where /tmp
# is private (a container, another checkout's suite): never a fixed port.
free_port () {
  for port in $(seq "$1" $(($1 + 99))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}
