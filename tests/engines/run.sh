#!/bin/bash
# tests/engines/run.sh ENGINE — a meson test: starts ENGINE (bwrap, ssh or
# srun) if it does not run yet, then runs test-channel's
# /acpu/engines/launcher through its prefix. The engine stays up for the
# rest of the suite (one start, under a lock, for parallel tests);
# `tests/engines/run.sh stop` (tools/test.sh's last step) stops them all.
#
# An engine whose programs are not installed, or that cannot work here
# (bwrap without namespaces, Slurm without root), is a skip with the reason;
# one that is installed and fails to start is a failure.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
here=$(cd "$(dirname "$0")" && pwd)

skip () {
  echo "1..0 # SKIP $*"
  exit 0
}

case "${1:-}" in
  bwrap) script=bwrap.sh; var=ACPU_TEST_BWRAP; channel=socket; needs=bwrap ;;
  ssh) script=sshd.sh; var=ACPU_TEST_SSH; channel=pipes; needs="/usr/sbin/sshd ssh" ;;
  srun) script=slurm.sh; var=ACPU_TEST_SRUN; channel=pipes
        needs="/usr/sbin/slurmctld /usr/sbin/slurmd srun /usr/sbin/munged" ;;
  stop)
    for s in slurm.sh sshd.sh bwrap.sh; do bash "$here/$s" stop || true; done
    . "$here/common.sh"
    rm -f "$ENGINES_DIR"/*.lock
    rmdir "$ENGINES_DIR" 2>/dev/null || true
    exit 0 ;;
  *) echo "usage: $0 bwrap|ssh|srun|stop" >&2; exit 2 ;;
esac
engine=$1

for prog in $needs; do
  command -v "$prog" >/dev/null || skip "$engine: $prog is not installed (tools/install-deps.sh all)"
done
if [ "$engine" = srun ] && [ "$(id -u)" != 0 ]; then
  skip "srun: a private Slurm needs root"
fi

if ! log=$(bash "$here/$script" start 2>&1); then
  if [ "$engine" = bwrap ]; then
    skip "bwrap: $log"
  fi
  echo "Bail out! $engine did not start: $(echo "$log" | tr '\n' ' ')"
  exit 1
fi

eval "$(bash "$here/$script" env)"
export SLURM_CONF=${SLURM_CONF:-}
[ -n "$SLURM_CONF" ] || unset SLURM_CONF
ACPU_TEST_LAUNCHER=${!var}
ACPU_TEST_LAUNCHER_CHANNEL=$channel
export ACPU_TEST_LAUNCHER ACPU_TEST_LAUNCHER_CHANNEL
exec "${G_TEST_BUILDDIR:-.}/test-channel" --tap -p /acpu/engines/launcher
