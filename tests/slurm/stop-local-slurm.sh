#!/usr/bin/env bash
# Stops the daemons that tests/slurm/start-local-slurm.sh started (slurmd, slurmctld, munged), and no
# others; a daemon that ran before the start script is left alone. Safe to call when none runs.
set -euo pipefail

STATE=/run/cnnlens-slurm

for name in slurmd slurmctld munged; do
  pidfile=$STATE/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm "$pidfile"
done
