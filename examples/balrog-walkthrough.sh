#!/usr/bin/env bash
# A walk through the Balrog faces: a release blob, a rule that rolls it out to a quarter of
# clients, the rollout widened to everyone, and the update checks a client makes on the way.
# Start the server first (`make run`), then run this script with the admin token the first start
# printed (or a token of a user with the `release` and `rule` permissions for Firefox):
#   SHIPLOG_TOKEN=shiplog_… examples/balrog-walkthrough.sh
# Run it again and it makes a new release, rule and channel (their names carry the time).
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
# json EXPRESSION: evaluates a Python expression over the JSON document `d` read from stdin.
json() {
  python3 -c 'import sys, json
try:
    d = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except (ValueError, KeyError, TypeError, IndexError) as e:
    sys.exit(f"unexpected answer ({type(e).__name__}: {e})")' "$1"
}

STAMP=$(date +%s)
NAME="Firefox-61.0-walkthrough-$STAMP"
CHANNEL="walkthrough-$STAMP"
# What a Firefox 60.0 client on 64-bit Windows, in German, on the walkthrough channel, sends.
UPDATE="/update/3/Firefox/60.0/20180501000000/WINNT_x86_64-msvc/de/$CHANNEL/Windows_NT%2010.0/default/default/update.xml"
EVALUATE="/api/v1/evaluate?product=Firefox&version=60.0&buildID=20180501000000&buildTarget=WINNT_x86_64-msvc&locale=de&channel=$CHANNEL&osVersion=Windows_NT%2010.0"

echo "1. a release: its blob says what to download, per platform and locale"
BLOB=$(python3 -c 'import json, sys
name = sys.argv[1]
print(json.dumps({"name": name, "schema_version": 4, "hashFunction": "sha512",
  "appVersion": "61.0", "displayVersion": "61.0", "platformVersion": "61.0",
  "detailsUrl": "https://www.example.com/%LOCALE%/firefox/61.0/releasenotes/",
  "fileUrls": {"*": {"completes": {"*": "https://dl.example.com/61.0/%LOCALE%/complete.mar"}}},
  "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
    "completes": [{"from": "*", "filesize": 48213107, "hashValue": "4a1e0c7d"}]}}}}}))' "$NAME")
BODY=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "product": "Firefox", "blob": sys.argv[2]}))' "$NAME" "$BLOB")
call POST /api/releases "$BODY"; echo
echo "   $BASE/api/releases/$NAME holds the blob"

echo "2. a rule: Firefox on the $CHANNEL channel below 61.0 gets it, but only 25% of checks"
RULE=$(call POST /api/rules "{\"product\": \"Firefox\", \"channel\": \"$CHANNEL\", \"version\": \"<61.0\",
  \"mapping\": \"$NAME\", \"backgroundRate\": 25, \"priority\": 100, \"update_type\": \"minor\",
  \"comment\": \"walkthrough rollout\"}")
echo "   rule $RULE"

echo "3. what a client would be told: the rule decides, the dice pick one check in four"
LUCKY=$(call GET "$EVALUATE&force=1")
echo "   a check the dice let through (force=1): $(json 'd["data"]["mapping"]' <<<"$LUCKY") ($(json 'd["data"]["reason"]' <<<"$LUCKY"))"
HELD=$(call GET "$EVALUATE&force=-1")
echo "   a check the dice hold back (force=-1): $(json 'd["data"]["mapping"] or "nothing"' <<<"$HELD") ($(json 'd["data"]["reason"]' <<<"$HELD"))"

echo "4. widen the rollout to everyone (the rule's data_version guards against lost updates)"
CURRENT=$(call GET "/api/rules/$RULE")
VERSION=$(json 'd["data_version"]' <<<"$CURRENT")
call PUT "/api/rules/$RULE" "{\"backgroundRate\": 100, \"data_version\": $VERSION}"; echo

echo "5. the update check Firefox makes, as it would see it now:"
call GET "$UPDATE"; echo

echo "6. the rule's history"
HISTORY=$(call GET "/api/rules/$RULE/revisions")
json '"\n".join("   data_version %s by %s: backgroundRate %s" % (r["data_version"], r["changed_by"], r["backgroundRate"]) for r in d["rules"])' <<<"$HISTORY"
echo "Browse the whole API at $BASE/docs/"
