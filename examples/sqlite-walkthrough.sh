#!/usr/bin/env bash
# A walk through the Orlo face on a local SQLite ledger. Start the server first (`make run`),
# then run this script with the admin token the first start printed (or any token holding the
# `ledger` permission); it records one release and asks the ledger about it.
#   SHIPLOG_TOKEN=shiplog_… examples/sqlite-walkthrough.sh
set -euo pipefail
BASE=${SHIPLOG_URL:-http://127.0.0.1:8080}
: "${SHIPLOG_TOKEN:?set SHIPLOG_TOKEN to a shiplog API token (the first start prints one; \
shiplog token create --user admin --admin makes another)}"

# call METHOD PATH [JSON]: the answer's body on stdout; an error answer stops the script with
# the server's own message.
call() {
  local out status args=(-sS -o - -w '\n%{http_code}' -X "$1" "$BASE$2"
    -H "Authorization: Bearer $SHIPLOG_TOKEN" -H 'Content-Type: application/json')
  [ $# -ge 3 ] && args+=(--data "$3")
  out=$(curl "${args[@]}") || { echo "cannot reach $BASE: is the server running?" >&2; exit 1; }
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$status" -ge 400 ]; then
    printf '%s %s answered %s:\n%s\n' "$1" "$2" "$status" "$out" >&2
    exit 1
  fi
  printf '%s' "$out"
}
# field NAME: one key of the JSON object on stdin.
field() {
  python3 -c 'import sys, json
try:
    print(json.load(sys.stdin)[sys.argv[1]])
except (ValueError, KeyError, TypeError) as e:
    sys.exit(f"unexpected answer ({type(e).__name__}: {e})")' "$1"
}

echo "1. create a release"
CREATED=$(call POST /releases '{"user": "alice", "team": "web", "platforms": ["eu-1"], "references": ["TICKET-1"], "note": "walkthrough"}')
RELEASE=$(field id <<<"$CREATED")
echo "   release $RELEASE"

echo "2. add a package, start it, stop it successfully"
ADDED=$(call POST "/releases/$RELEASE/packages" '{"name": "frontend", "version": "2.4.0"}')
PACKAGE=$(field id <<<"$ADDED")
call POST "/releases/$RELEASE/packages/$PACKAGE/start" >/dev/null
call POST "/releases/$RELEASE/packages/$PACKAGE/stop" '{"success": true}' >/dev/null
call POST "/releases/$RELEASE/stop" >/dev/null

echo "3. the release, with its derived status"
call GET "/releases/$RELEASE"; echo
echo "4. what is live where"
call GET "/info/packages/versions?platform=eu-1"; echo
echo "5. delivery statistics"
call GET "/stats/user/alice"; echo
echo "Browse the whole API at $BASE/docs/"
