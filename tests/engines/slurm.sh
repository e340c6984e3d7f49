#!/bin/bash
# tests/engines/slurm.sh start|stop|env — a single-node Slurm (slurmctld and
# slurmd on 127.0.0.1, munge for authentication) for the launcher tests.
# Idempotent: start leaves a running one alone; stop removes everything it
# started (a munged that was already running is left alone). `env` prints
# SLURM_CONF and ACPU_TEST_SRUN, the srun prefix that runs one task.
#
# What it needs (Debian 12, slurm-wlm 22.05, as verified on a fresh Debian 12):
# root; `/sys/fs/cgroup` mounted even with proctrack/linuxproc (mounted here
# when it is not); the short hostname resolvable.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
. "$(dirname "$0")/common.sh"
dir=$ENGINES_DIR/slurm
srun_prefix="srun -N1 -n1 --quiet -u"

munge_ok () {
  munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge () {
  munge_ok && return 0
  [ -s /etc/munge/munge.key ] || mungekey -c -f
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged 9>&- || true
  wait_for 10 munge_ok || { echo "slurm.sh: munged does not answer" >&2; return 1; }
  # Ours to stop (one that ran already is not).
  cp /run/munge/munged.pid "$dir/munged.pid" 2>/dev/null || true
}

srun_ok () {
  SLURM_CONF=$dir/slurm.conf timeout 10 srun -N1 -n1 --quiet true
}

start () {
  if alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && srun_ok 2>/dev/null; then
    return 0
  fi
  stop_daemons
  for b in slurmctld slurmd srun munged; do
    command -v $b >/dev/null || [ -x /usr/sbin/$b ] ||
      { echo "slurm.sh: $b missing (slurm-wlm munge)" >&2; return 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "slurm.sh: needs root" >&2; return 1; }
  mkdir -p "$dir/state" "$dir/spool"
  start_munge
  if ! mountpoint -q /sys/fs/cgroup; then
    # slurmd 22.05 will not start without it, even when it uses no cgroup.
    mount -t cgroup2 none /sys/fs/cgroup
  fi
  host=$(hostname -s)
  if ! getent hosts "$host" >/dev/null; then
    echo "slurm.sh: the host name $host does not resolve; add it to /etc/hosts" >&2
    return 1
  fi
  ctld_port=$(free_port 16817)
  slurmd_port=$(free_port $((ctld_port + 1)))
  cat > "$dir/slurm.conf" <<CONF
ClusterName=acpu-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld-own.pid
SlurmdPidFile=$dir/slurmd-own.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP OverSubscribe=FORCE:8 MaxTime=INFINITE
CONF
  SLURM_CONF=$dir/slurm.conf setsid /usr/sbin/slurmctld -D -i -f "$dir/slurm.conf" 9>&- \
    > "$dir/slurmctld.out" 2>&1 < /dev/null &
  echo $! > "$dir/slurmctld.pid"
  SLURM_CONF=$dir/slurm.conf setsid /usr/sbin/slurmd -D -f "$dir/slurm.conf" 9>&- \
    > "$dir/slurmd.out" 2>&1 < /dev/null &
  echo $! > "$dir/slurmd.pid"
  if ! wait_for 60 srun_ok; then
    echo "slurm.sh: no job runs; the daemons' logs:" >&2
    tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log "$dir"/*.out >&2 2>/dev/null || true
    return 1
  fi
}

stop_daemons () {
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
}

stop () {
  stop_daemons
  stop_pidfile "$dir/munged.pid"
  rm -rf "$dir"
}

case "${1:-}" in
  start) with_lock slurm start ;;
  stop) with_lock slurm stop ;;
  env) [ -s "$dir/slurm.conf" ] || { echo "slurm.sh: not started" >&2; exit 1; }
       echo "SLURM_CONF=\"$dir/slurm.conf\""
       echo "ACPU_TEST_SRUN=\"$srun_prefix\"" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
