#!/bin/bash
# tests/engines/sshd.sh start|stop|env — a second sshd on 127.0.0.1, with
# its own host key and a throwaway user key, for the launcher tests.
# Idempotent: start leaves a running one alone; stop removes everything.
# `env` prints ACPU_TEST_SSH, the ssh prefix that runs a command there.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
. "$(dirname "$0")/common.sh"
dir=$ENGINES_DIR/sshd

ssh_prefix () {
  echo "ssh -p $(cat "$dir/port") -i $dir/user_key -o BatchMode=yes" \
       "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
       "$(id -un)@127.0.0.1"
}

start () {
  if alive "$dir/pid" && $(ssh_prefix) true 2>/dev/null; then
    return 0
  fi
  stop_pidfile "$dir/pid"
  [ -x /usr/sbin/sshd ] || { echo "sshd.sh: /usr/sbin/sshd missing (openssh-server)" >&2; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir" /run/sshd 2>/dev/null || mkdir -p "$dir"
  chmod 700 "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/user_key"
  cp "$dir/user_key.pub" "$dir/authorized_keys"
  free_port 22220 > "$dir/port"
  cat > "$dir/sshd_config" <<CONF
Port $(cat "$dir/port")
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxStartups 128
MaxSessions 128
CONF
  # -D: not a daemon, so that its pid is ours to stop.
  setsid /usr/sbin/sshd -D -e -f "$dir/sshd_config" > "$dir/log" 2>&1 < /dev/null 9>&- &
  echo $! > "$dir/pid"
  if ! wait_for 20 $(ssh_prefix) true; then
    echo "sshd.sh: the second sshd does not answer; its log:" >&2
    cat "$dir/log" >&2
    return 1
  fi
}

stop () {
  stop_pidfile "$dir/pid"
  rm -rf "$dir"
}

case "${1:-}" in
  start) with_lock sshd start ;;
  stop) with_lock sshd stop ;;
  env) [ -s "$dir/port" ] || { echo "sshd.sh: not started" >&2; exit 1; }
       echo "ACPU_TEST_SSH=\"$(ssh_prefix)\"" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
