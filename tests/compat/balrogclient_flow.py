"""Drives the real balrogclient 2.0 (from PyPI) against a shiplog server.

Usage: python balrogclient_flow.py API_ROOT RULE_ID

Only the Auth0 token fetch is stubbed (shiplog issues its own credentials): the stub hands out
the shiplog API token in $BALROG_TOKEN, which the client sends as `Authorization: Bearer`.
Every other call goes over HTTP exactly as balrogclient makes it. Exits non-zero on the first
surprise.
"""

import json
import os
import sys
import time

import requests
import balrogclient.api as api
from balrogclient import Release, ReleaseState, Rule, ScheduledRuleChange, SingleLocale

api._get_auth0_token = lambda secrets, session: os.environ["BALROG_TOKEN"]

API_ROOT, RULE_ID = sys.argv[1], int(sys.argv[2])
AUTH0 = {"client_id": "x", "client_secret": "y", "audience": "z", "domain": "auth.invalid"}
COMMON = {"auth0_secrets": AUTH0, "api_root": API_ROOT}
NAME = "Firefox-mozilla-central-nightly-20240101"


def check(condition, message):
    if not condition:
        sys.exit("balrogclient flow: " + message)


def locale_data(build_id):
    return json.dumps({"buildID": build_id, "appVersion": "62.0a1", "displayVersion": "62.0a1",
                       "completes": [{"from": "*", "filesize": 1, "hashValue": "abc",
                                      "fileUrl": "https://example.com/c.mar"}]})


# A release that does not exist yet: the HEAD is a 404, the POST creates it.
release = Release(NAME, **COMMON)
release.update_release("Firefox", "sha512",
                       json.dumps({"name": NAME, "schema_version": 4, "appVersion": "62.0a1"}),
                       schemaVersion=4)
blob, version = release.get_data()
check(blob["appVersion"] == "62.0a1" and blob["hashFunction"] == "sha512", "blob: %r" % blob)
check(version == 2, "data_version after creation: %r" % version)

# Locale uploads: the first takes its data_version from a HEAD, the next two both claim that
# same (now outdated) version, as parallel build tasks would, and are merged.
SingleLocale(NAME, "WINNT_x86-msvc", "de", **COMMON).update_build(
    "Firefox", "sha512", locale_data("20240101000000"), schemaVersion=4)
for locale in ("fr", "it"):
    SingleLocale(NAME, "WINNT_x86-msvc", locale, **COMMON).update_build(
        "Firefox", "sha512", locale_data("20240101000000"), schemaVersion=4,
        data_version=3, alias=json.dumps(["WINNT_x86-msvc-x86"]))
data, version = SingleLocale(NAME, "WINNT_x86-msvc", "fr", **COMMON).get_data()
check(data.get("buildID") == "20240101000000", "locale: %r" % data)
check(version == 5, "data_version after three locales: %r" % version)
missing, missing_version = SingleLocale(NAME, "Linux_x86_64-gcc3", "de", **COMMON).get_data()
check(missing == {} and missing_version == 5, "missing locale: %r %r" % (missing, missing_version))
none, none_version = SingleLocale("no-such-release", "p", "l", **COMMON).get_data()
check(none == {} and none_version is None, "missing release: %r %r" % (none, none_version))
blob, _ = release.get_data()
check(sorted(blob["platforms"]["WINNT_x86-msvc"]["locales"]) == ["de", "fr", "it"], "locales: %r" % blob)
check(blob["platforms"]["WINNT_x86-msvc-x86"] == {"alias": "WINNT_x86-msvc"}, "alias: %r" % blob)

# Read-only releases refuse changes until made modifiable again.
ReleaseState(NAME, **COMMON).set_readonly()
try:
    release.update_release("Firefox", "sha512", json.dumps({"detailsUrl": "https://example.com"}),
                           schemaVersion=4)
    sys.exit("balrogclient flow: a read-only release accepted a change")
except requests.HTTPError as error:
    check(error.response.status_code == 403, "read-only refusal: %r" % error.response.status_code)
ReleaseState(NAME, **COMMON).set_modifiable()
release.update_release("Firefox", "sha512", json.dumps({"detailsUrl": "https://example.com"}),
                       schemaVersion=4)
blob, version = release.get_data()
check(blob["detailsUrl"] == "https://example.com" and version == 8, "after modifiable: %r %r" % (blob, version))

# Rules: the HEAD supplies the data_version of the POST.
Rule(RULE_ID, **COMMON).update_rule(mapping=NAME, backgroundRate=50)
rule, version = Rule(RULE_ID, **COMMON).get_data()
check(rule["mapping"] == NAME and rule["backgroundRate"] == 50 and version == 2, "rule: %r" % rule)

# A scheduled rule change: the HEAD of the rule supplies the data_version it is made against.
WHEN = int(time.time() * 1000) + 3600 * 1000
reply = ScheduledRuleChange(RULE_ID, **COMMON).add_scheduled_rule_change(
    rule_id=RULE_ID, change_type="update", when=WHEN, backgroundRate=25)
scheduled = reply.json()
check(scheduled["sc_id"] > 0 and scheduled["signoffs"] == {}, "scheduled: %r" % scheduled)

print("balrogclient flow: ok")
