#!/usr/bin/env bash
# The newcomer's `npm start` on the embedded database: run from the clone, inside the bare
# network namespace. Starts it, runs an authenticated operation with the printed key, stops it
# as Ctrl-C does, restarts it to check that the data and the key survived, and stops it again.
set -euo pipefail
embedded_pg_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p .data

smoke() {
  local log=$1 pid
  setsid env -u DATABASE_URL PORT=0 EMBEDDED_PG_PORT="$embedded_pg_port" npm start >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do grep -q 'GraphiQL at' "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  url=$(grep -o 'http://[^ ]*/graphql' "$log" | head -1)
  [ -n "$url" ] || { echo "server did not start:"; cat "$log"; return 1; }
  echo "started: $url"
  SMOKE_PID=$pid
}
stop_smoke() {
  local log=$1
  kill -INT -- "-$SMOKE_PID"   # what Ctrl-C does: the whole process group
  for _ in $(seq 1 30); do kill -0 "$SMOKE_PID" 2>/dev/null || break; sleep 1; done
  if kill -0 "$SMOKE_PID" 2>/dev/null; then echo "server did not stop"; kill -KILL -- "-$SMOKE_PID"; return 1; fi
  grep -q '"message":"stopped"' "$log" || { echo "no clean stop in the log:"; tail -20 "$log"; return 1; }
  if pgrep -f -- "-p $embedded_pg_port" >/dev/null; then echo "embedded PostgreSQL still running"; return 1; fi
}
# Runs an authenticated operation and checks its answer contains $3.
expect_answer() {
  local answer
  answer=$(curl -sf -H 'content-type: application/json' -H "x-api-key: $1" "$url" -d "$2")
  echo "$answer"
  grep -qF -- "$3" <<<"$answer"
}

rm -rf .data/postgres .data/embedded-postgres.json
smoke .data/start-1.log
key=$(grep -o 'ck_test_[A-Za-z0-9]\{32\}' .data/start-1.log | head -1)
[ -n "$key" ] || { echo "no development key printed"; exit 1; }
# The first start loads the demo data: GraphiQL's prefilled example answers with acme-corp's balances.
expect_answer "$key" '{"query":"{ customers(ids: [\"acme-corp\"]) { externalId seatBalances { featureCode current } } }"}' '{"featureCode":"editor","current":8}'
expect_answer "$key" '{"query":"mutation { createFeature(input: {code: \"smoke\", name: \"Smoke\", type: SEATS}) { code livemode } }"}' '"livemode":false'
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' "$url" -d '{"query":"{ features { code } }"}')" = 401 ]
# GraphiQL is served whole: no address outside this server in the page.
page=$(curl -sf -H 'accept: text/html' "$url")
if grep -oE '(src|href)="https?://[^"]+' <<<"$page" | grep -v '127.0.0.1' | head -1 | grep -q .; then echo "GraphiQL loads something from elsewhere"; exit 1; fi
stop_smoke .data/start-1.log
# A restart keeps the data and the key, and prints no new key.
smoke .data/start-2.log
if grep -q 'ck_test_' .data/start-2.log; then echo "a second key was printed"; exit 1; fi
expect_answer "$key" '{"query":"{ features { code } }"}' '"code":"smoke"'
stop_smoke .data/start-2.log
# No password or temp file of the embedded database is left behind.
if ls /tmp/pg-password-* .data/.initdb-password-* 2>/dev/null | grep -q .; then echo "a password file was left behind"; exit 1; fi
# The cluster of this throwaway clone goes; a root run in a private folder keeps it in /var/tmp/seatgate.
cluster=$(grep -F '"creating the embedded PostgreSQL cluster"' .data/start-1.log | grep -o '"dir":"[^"]*"' | sed 's/.*"dir":"//; s/"$//' || true)
case "$cluster" in /var/tmp/seatgate/clusters/*) rm -rf "$cluster" ;; esac
echo "embedded start: ok"
