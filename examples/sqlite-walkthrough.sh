#!/usr/bin/env bash
# A walk through the Orlo face on a local SQLite ledger. Start the server first (`make run`),
# then run this script with the admin token the first start printed (or any token holding the
# `ledger` permission); it records one release and asks the ledger about it.
#   SHIPLOG_TOKEN=shiplog_… examples/sqlite-walkthrough.sh
set -euo pipefail
BASE=${SHIPLOG_URL:-http://127.0.0.1:8080}
: "${SHIPLOG_TOKEN:?set SHIPLOG_TOKEN to a shiplog API token (printed once at first start)}"
json() { curl -sS -H "Authorization: Bearer $SHIPLOG_TOKEN" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import sys, json; print(json.load(sys.stdin)['$1'])"; }

echo "1. create a release"
RELEASE=$(json -X POST "$BASE/releases" -d '{"user": "alice", "team": "web", "platforms": ["eu-1"], "references": ["TICKET-1"], "note": "walkthrough"}' | field id)
echo "   release $RELEASE"

echo "2. add a package, start it, stop it successfully"
PACKAGE=$(json -X POST "$BASE/releases/$RELEASE/packages" -d '{"name": "frontend", "version": "2.4.0"}' | field id)
json -X POST "$BASE/releases/$RELEASE/packages/$PACKAGE/start"
json -X POST "$BASE/releases/$RELEASE/packages/$PACKAGE/stop" -d '{"success": true}'
json -X POST "$BASE/releases/$RELEASE/stop"

echo "3. the release, with its derived status"
curl -sS "$BASE/releases/$RELEASE"; echo
echo "4. what is live where"
curl -sS "$BASE/info/packages/versions?platform=eu-1"; echo
echo "5. delivery statistics"
curl -sS "$BASE/stats/user/alice"; echo
echo "Browse the whole API at $BASE/docs/"
