#!/bin/bash
# tests/engines/bwrap.sh check|env — whether bubblewrap can create its
# namespaces here (it cannot inside some containers and sandboxes), and the
# prefix the launcher tests run the worker under.
#
# `env` prints ACPU_TEST_BWRAP: the whole system read-only, a new session,
# no network, IPC or UTS namespace shared, and death with the parent. The
# pid namespace is kept so that the test can watch the worker's real pid;
# `check` proves that a pid namespace works too.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu

# As root bwrap needs no user namespace, and asking for one (even with
# --unshare-user-try, or through --unshare-all) fails inside a chroot, as in
# the fresh Debian runner; as another user it is what makes bwrap work.
user_ns=""
[ "$(id -u)" = 0 ] || user_ns="--unshare-user-try"
# The tree the tests run from stays visible even when it lies under /tmp
# (a clone there), which the private /tmp would hide.
top=$(cd "$(dirname "$0")/../.." && pwd)
prefix="bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --ro-bind $top $top $user_ns --unshare-ipc --unshare-net --unshare-uts --unshare-cgroup-try --die-with-parent --new-session"

check () {
  command -v bwrap >/dev/null || { echo "bwrap.sh: bwrap missing (bubblewrap)" >&2; return 1; }
  if ! out=$(bwrap --ro-bind / / --dev /dev --proc /proc $user_ns --unshare-pid --unshare-ipc \
                   --unshare-net --unshare-uts --unshare-cgroup-try --die-with-parent \
                   --new-session sh -c 'echo $$' 2>&1); then
    echo "bwrap.sh: bwrap cannot create namespaces here: $out" >&2
    return 1
  fi
  # In its own pid namespace the command is not the pid it has outside.
  [ "$out" -lt 10 ] || { echo "bwrap.sh: no pid namespace (pid $out)" >&2; return 1; }
  $prefix true
}

case "${1:-}" in
  check) check ;;
  start) check ;;
  stop) ;;
  env) echo "ACPU_TEST_BWRAP=\"$prefix\"" ;;
  *) echo "usage: $0 check|env" >&2; exit 2 ;;
esac
