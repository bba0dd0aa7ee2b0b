#!/usr/bin/env bash
# A walk through the Orlo face on a local SQLite ledger. Start the server first (`make run`),
# then run this script; it records one release and asks the ledger about it.
set -euo pipefail
BASE=${SHIPLOG_URL:-http://127.0.0.1:8080}
json() { curl -sS -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import sys, json; print(json.load(sys.stdin)['$1'])"; }

echo "1. create a release"
RELEASE=$(json -X POST "$BASE/releases" -d '{"user": "alice", "team": "web", "platforms": ["eu-1"], "references": ["TICKET-1"], "note": "walkthrough"}' | field id)
echo "   release $RELEASE"

echo "2. add a package, start it, stop it successfully"
PACKAGE=$(json -X POST "$BASE/releases/$RELEASE/packages" -d '{"name": "frontend", "version": "2.4.0"}' | field id)
curl -sS -X POST "$BASE/releases/$RELEASE/packages/$PACKAGE/start"
json -X POST "$BASE/releases/$RELEASE/packages/$PACKAGE/stop" -d '{"success": true}'
curl -sS -X POST "$BASE/releases/$RELEASE/stop"

echo "3. the release, with its derived status"
curl -sS "$BASE/releases/$RELEASE"; echo
echo "4. what is live where"
curl -sS "$BASE/info/packages/versions?platform=eu-1"; echo
echo "5. delivery statistics"
curl -sS "$BASE/stats/user/alice"; echo
echo "Browse the whole API at $BASE/docs/"
