#!/usr/bin/env bash
# A single-node SLURM on this Debian machine, for the `slurm`-marked tests: installs slurm-wlm and
# munge, writes /etc/slurm/slurm.conf and starts munged, slurmctld and slurmd. Needs root; no systemd
# or cgroups needed (containers often have neither). Idempotent: a second call finds it running.
# tests/slurm/stop-local-slurm.sh stops the daemons this script started, and only those.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# Written by cnnlens tests/slurm/start-local-slurm.sh"
STATE=/run/cnnlens-slurm  # one pid file per daemon started here: what the stop script stops
HOST=$(hostname -s)

fail() { echo "start-local-slurm: $*" >&2; exit 1; }

# Waits up to $1 seconds for the command that follows to succeed.
wait_for() {
  local seconds=$1; shift
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

# Starts daemon $1 (by the command that follows, which forks) and records its pid file $2.
start() {
  local name=$1 pidfile=$2; shift 2
  rm -f "$pidfile"  # a stale one would pass for the new daemon's
  "$@" || fail "$name did not start; see /var/log/slurm/ or /var/log/munge/"
  wait_for 10 test -s "$pidfile" || fail "$name wrote no pid file $pidfile"
  cp "$pidfile" "$STATE/$name.pid"
}

[ "$(id -u)" = 0 ] || fail "needs root: it installs packages and starts daemons"
if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
  fail "$CONF exists and was not written here: this machine has its own SLURM, use that"
fi
installed() { for tool in slurmctld slurmd munged sbatch; do command -v "$tool" >/dev/null || return 1; done; }
if ! installed; then
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are missing and this is no Debian (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
mkdir -p "$STATE" /etc/slurm /var/spool/cnnlens-slurm/ctld /var/spool/cnnlens-slurm/d /var/log/slurm

# No cgroups (proctrack/linuxproc, task/none), no accounting database; CR_CPU_Memory makes sbatch's
# --cpus-per-task and --mem count. MinJobAge keeps finished jobs in squeue for an hour: the executor
# reads their end state from there (--slurm-status-command squeue) since sacct has no database.
# config_overrides: the node is what this file says, whatever slurmd detects.
cat >"$CONF.new" <<EOF
$MARK
ClusterName=cnnlens
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/cnnlens-slurm/ctld
SlurmdSpoolDir=/var/spool/cnnlens-slurm/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo) State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
node_idle() { sinfo --noheader --nodes "$HOST" --format %t 2>/dev/null | grep -qx idle; }
if cmp -s "$CONF.new" "$CONF" && node_idle; then
  rm "$CONF.new"
  echo "start-local-slurm: already running"
  exit 0
fi

# A changed slurm.conf or a half-started cluster: start what runs here from scratch.
"$(dirname "$0")/stop-local-slurm.sh"
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  fail "slurmctld or slurmd runs but was not started here: stop it first"
fi
mv "$CONF.new" "$CONF"

# munge authenticates every SLURM message; the package makes a key, older ones may not.
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  start munged /run/munge/munged.pid runuser -u munge -- munged
fi
start slurmctld /run/slurmctld.pid slurmctld -c  # -c: forget jobs of an earlier run
wait_for 30 scontrol ping || fail "slurmctld does not answer; see /var/log/slurm/slurmctld.log"
start slurmd /run/slurmd.pid slurmd
wait_for 30 node_idle || fail "node $HOST is not idle: $(sinfo --noheader --format '%t %E'); see /var/log/slurm/slurmd.log"
echo "start-local-slurm: node $HOST idle with $(nproc) CPUs, partition 'local'"
