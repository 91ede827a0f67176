#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for keyward's tests and benchmarks, runs the
# given command with KEYWARD_PG_URL set, then stops the server and deletes its
# data. Usage (as root, or as a user who may run initdb):
#
#   bash .ci/postgres.sh npx vitest run test/postgres
#
# Installs Debian's postgresql package when no initdb is found (root only).
# The server listens on 127.0.0.1 only, on a non-default port
# (KEYWARD_PG_PORT, default 54329), with a temporary data directory.
set -euo pipefail
port="${KEYWARD_PG_PORT:-54329}"

initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
fi
bin=$(dirname "$initdb")

# initdb refuses to run as root: run the server as the postgres user.
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_pg() { runuser -u postgres -- "$@"; }
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/keyward-pg-XXXXXX")
chmod 755 "$data"
[ "$(id -u)" = 0 ] && chown postgres "$data"
stop() {
  as_pg "$bin/pg_ctl" -D "$data/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap stop EXIT

# Password authentication over TCP (so a wrong password is refused, as in production); trust on the socket.
echo keyward >"$data/pw"
[ "$(id -u)" = 0 ] && chown postgres "$data/pw"
as_pg "$bin/initdb" -D "$data/db" -U keyward --pwfile="$data/pw" --auth-host=scram-sha-256 --auth-local=trust \
  --no-sync -E UTF8 >/dev/null
# fsync off: a throwaway test server (never for real data). Socket in the data dir, TCP on 127.0.0.1 only.
as_pg "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -o "-p $port -h 127.0.0.1 -k $data -c fsync=off -c max_connections=200" start >/dev/null
as_pg "$bin/psql" -h "$data" -p "$port" -U keyward -d postgres -qc "CREATE DATABASE keyward" >/dev/null

export KEYWARD_PG_URL="postgres://keyward:keyward@127.0.0.1:$port/keyward"
export KEYWARD_PG_DATA="$data/db" KEYWARD_PG_BIN="$bin"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
