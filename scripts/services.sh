#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on this machine; start them when they do not.
# The start commands are the ones this machine kind documents for its preinstalled services.
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}

if ! pg_isready -q -h "$PGHOST" -p "$PGPORT"; then
  echo "PostgreSQL is not answering on $PGHOST:$PGPORT; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
  for _ in $(seq 1 60); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 0.5; done
  pg_isready -h "$PGHOST" -p "$PGPORT"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Redis is not answering on 127.0.0.1:6379; starting it"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 60); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli ping
fi

# RabbitMQ: a production broker choice and the Shopify benchmark's; the tests use an in-memory
# broker and do not wait for it.
rabbit_answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! rabbit_answers; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "RabbitMQ is not answering on 127.0.0.1:5672; starting it"
    rabbitmq-server -detached || echo "RabbitMQ did not start; only the benchmark needs it"
  else
    echo "RabbitMQ is not installed; only the benchmark needs it"
  fi
fi
