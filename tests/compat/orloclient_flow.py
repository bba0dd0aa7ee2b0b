"""Drives shiplog's Orlo face with the real orloclient 0.4.5, library and CLI.

Usage: python orloclient_flow.py BASE_URL
Exits non-zero (with the failing assertion) if anything a release engineer relies on breaks.
"""
import json
import subprocess
import sys
import uuid

from orloclient import OrloClient
from orloclient.exceptions import ClientError

uri = sys.argv[1]
client = OrloClient(uri=uri)

assert client.ping() is True

# Create a release with everything the client can send.
release = client.create_release(
    user="alice", platforms=["site1", "site2"], team="A-Team",
    references=["TICKET-1"], note="first note", metadata={"build": "42"},
)
assert uuid.UUID(release.id)
assert release.user == "alice"
assert release.team == "A-Team"
assert release.platforms == ["site1", "site2"]
assert release.references == ["TICKET-1"]
assert release.notes == ["first note"]
assert release.metadata == {"build": "42"}
# The client turns a null time into "now" (arrow.get(None)); read the raw data instead.
assert release.data["releases"][0]["ftime"] is None
stime = release.stime  # arrow-parsed
assert stime.year >= 2024

web = release.add_package("web", "1.0.1")
api = client.create_package(release, "api", "2.0")
assert web.name == "web" and web.version == "1.0.1"

for pkg in (web, api):
    assert client.package_start(pkg) is True
assert client.package_stop(web, success=True) is True
assert client.package_stop(api, success=False) is True
assert client.package_add_results(web, "all good") is True
assert client.release_stop(release) is True

release.fetch()
packages = {p.name: p for p in release.packages}
assert packages["web"].status == "SUCCESSFUL", packages["web"].status
assert packages["api"].status == "FAILED"
assert release.data["releases"][0]["ftime"] is not None
assert release.duration is not None

fetched = client.get_package(web.id)
assert fetched.name == "web" and fetched.version == "1.0.1"
assert str(fetched.release_id) == release.id

# Queries.
found = client.get_releases(user="alice")
assert [r.id for r in found] == [release.id]
raw = client.get_releases(raw=True, platform="site2", status="FAILED")
assert raw[0]["id"] == release.id
assert [p.name for p in client.get_packages(name="api")] == ["api"]
try:
    client.get_releases(user="nobody")
    raise AssertionError("an empty listing is a ClientError, as with Orlo")
except ClientError:
    pass

assert client.get_info("users") == {"alice": {"releases": 1}}
assert client.get_info("users", name="alice", platform="site1") == {"alice": {"releases": 1}}
assert client.get_info("packages") == {"api": {"releases": 1}, "web": {"releases": 1}}
assert client.get_info("platforms", name="site2") == {"site2": {"releases": 1}}
assert client.get_versions() == {"web": "1.0.1"}
stats = client.get_stats()
assert stats["global"]["releases"]["normal"]["failed"] == 1, stats
assert client.get_stats(field="user", name="alice")["alice"]["releases"]["total"]["failed"] == 1
assert client.get_stats(field="platform", platform="site1", stime="2000-01-01T00:00:00Z")["site1"]["releases"]["total"]["failed"] == 1

# The CLI, as an operator uses it.
def cli(*args):
    out = subprocess.run(
        [sys.executable, "-m", "orloclient", "--uri", uri, *args],
        check=True, capture_output=True, text=True,
    )
    return out

created = cli("create-release", "--user", "bob", "--platform", "site3", "--team", "B", "--note", "via cli")
assert "Created release with id" in created.stderr, created.stderr
listed = json.loads(cli("list", "user=bob").stdout)
assert len(listed) == 1 and listed[0]["platforms"] == ["site3"] and listed[0]["notes"] == ["via cli"]
assert json.loads(cli("info", "users").stdout) == {"alice": {"releases": 1}, "bob": {"releases": 1}}
assert json.loads(cli("versions").stdout) == {"web": "1.0.1"}
print("orloclient flow passed against", uri)
