#!/bin/sh
# Run by inventory-sync-healthcheck.timer (as root, in /opt/inventory-sync). systemd restarts a
# process that exits (Restart=always); this restarts one that runs but no longer works: a
# worker of this host that does not answer a ping, or beat when no queue heartbeat is fresh.
# Nothing is restarted while the broker itself does not answer: workers reconnect by
# themselves when it is back.
set -u
run() { runuser -u inventory-sync -- "$@"; }
celery=.venv/bin/celery
host=$(hostname)

if ! run .venv/bin/python -c "from inventory_sync.celery import app; app.connection_for_write().ensure_connection(max_retries=1)" >/dev/null 2>&1; then
  echo "broker not answering: leaving the workers to reconnect"
  exit 0
fi
for queue in ingest push default reconcile; do
  unit="inventory-sync-worker-$queue.service"
  systemctl is-active --quiet "$unit" || continue
  if ! run $celery -A inventory_sync inspect ping --destination "$queue@$host" --timeout 10 >/dev/null 2>&1; then
    echo "worker $queue@$host did not answer a ping: restarting $unit"
    systemctl restart "$unit"
  fi
done
if systemctl is-active --quiet inventory-sync-beat.service \
  && ! run .venv/bin/python manage.py worker_heartbeats --beat-within 120 >/dev/null 2>&1; then
  echo "no queue heartbeat for 2 minutes: restarting beat"
  systemctl restart inventory-sync-beat.service
fi
