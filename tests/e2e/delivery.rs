//! `GET /api/v1/delivery` over HTTP on every backend: a hand-computed ledger recorded through
//! the Orlo and Bileto faces, grouping, an empty window and refused parameters.

use serde_json::{json, Value};
use shiplog_domain::timestamp;
use shiplog_tests::{TestServer, BOT_TOKEN};
use time::{Duration, OffsetDateTime};

fn iso(at: OffsetDateTime) -> String {
    timestamp::format(at)
}

/// A landing ticket made through `/v1`; returns its id and creation time.
fn ticket(server: &TestServer) -> (i64, OffsetDateTime) {
    let reply = server.request(
        "POST",
        &format!("/v1/tickets?token={BOT_TOKEN}"),
        &[("Content-Type", "application/json")],
        Some(&json!({"description": "land the fix"}).to_string()),
    );
    reply.expect(201);
    let created = &reply.json()["requests"][0];
    let date = timestamp::parse(created["date"].as_str().expect("date")).expect("a timestamp");
    (created["request_id"].as_i64().expect("id"), date)
}

fn release(
    team: &str,
    platform: &str,
    package: &str,
    status: &str,
    stime: OffsetDateTime,
    seconds: i64,
) -> Value {
    let ftime = iso(stime + Duration::seconds(seconds));
    json!({"user": "alice", "team": team, "platforms": [platform],
           "stime": iso(stime), "ftime": ftime,
           "packages": [{"name": package, "version": "1", "status": status,
                         "stime": iso(stime), "ftime": ftime}]})
}

/// `B` is the midnight after the ticket was made; the window is `[B, B+2d)`:
/// - E1 core/eu/web SUCCESSFUL, B 10:00 + 300 s, commit_time B 09:00 → lead 3,900 s
/// - E2 core/eu/web FAILED, B 11:00 + 60 s → recovered by E3 at 11:32 (1,860 s)
/// - E3 ops/eu/web SUCCESSFUL, B 11:30 + 120 s, `ticket:N`, unplanned
/// - E4 ops/us/api FAILED, B+1d 09:00 + 600 s → never recovered
/// - E5 ops/us/api SUCCESSFUL with no package stop: IN_PROGRESS, not a deployment
fn seed(server: &TestServer) -> (OffsetDateTime, OffsetDateTime) {
    let (id, created) = ticket(server);
    let b = created.replace_time(time::Time::MIDNIGHT) + Duration::days(1);
    let hour = |h: i64| b + Duration::hours(h);
    let mut e1 = release("core", "eu", "web", "SUCCESSFUL", hour(10), 300);
    e1["metadata"] = json!({"commit_time": iso(hour(9)), "unplanned": false});
    let e2 = release("core", "eu", "web", "FAILED", hour(11), 60);
    let mut e3 = release(
        "ops",
        "eu",
        "web",
        "SUCCESSFUL",
        hour(11) + Duration::minutes(30),
        120,
    );
    e3["references"] = json!(["CHANGE-1", format!("ticket:{id}")]);
    e3["metadata"] = json!({"unplanned": true});
    let e4 = release("ops", "us", "api", "FAILED", hour(33), 600);
    let mut e5 = release("ops", "us", "api", "IN_PROGRESS", hour(34), 10);
    e5["packages"][0]["ftime"] = Value::Null;
    server
        .post("/releases/import", &json!([e1, e2, e3, e4, e5]))
        .expect(200);
    (b, created)
}

fn delivery(server: &TestServer, query: &str) -> Value {
    let reply = server.get(&format!("/api/v1/delivery?{query}"));
    reply.expect(200);
    let body = reply.json();
    assert_eq!(body["status"], "success", "{}", reply.text);
    assert_eq!(body["errors"], json!([]));
    body["data"].clone()
}

#[test]
fn delivery_metrics_over_http() {
    TestServer::each_backend(|server| {
        let (b, ticket_date) = seed(server);
        let window = format!(
            "from={}&to={}",
            iso(b),
            (b + Duration::days(2)).unix_timestamp()
        );
        let data = delivery(server, &window);
        assert_eq!(data["from"], iso(b));
        assert_eq!(data["to"], iso(b + Duration::days(2)));
        assert_eq!(data["days"], 2.0);
        assert_eq!(data["deployments"], 4);
        assert_eq!(
            data["deployment_frequency"],
            json!({"per_day": 2.0, "deploy_days": 2, "deploy_days_per_week": 7.0, "band": "daily"})
        );
        assert_eq!(data["change_failure_rate"], 0.5);
        assert_eq!(data["failed"], 2);
        assert_eq!(
            data["recovery_time"],
            json!({"median_s": 1860, "p90_s": 1860, "recovered": 1, "unrecovered": 1})
        );
        let e3_lead = (b + Duration::minutes(11 * 60 + 32) - ticket_date).whole_seconds();
        assert_eq!(
            data["lead_time"],
            json!({"median_s": 3900, "p90_s": e3_lead, "measured": 2, "without_change_time": 0})
        );
        assert_eq!(data["rework_rate"], 0.25);
        assert_eq!(
            data["series"],
            json!([
                {"date": iso(b)[..10], "deployments": 3, "failed": 1, "median_duration_s": 120},
                {"date": iso(b + Duration::days(1))[..10], "deployments": 1, "failed": 1, "median_duration_s": 600},
            ])
        );
        assert!(data.get("groups").is_none());

        // By team: E3 is ops, so core's failure has no recovery in core.
        let grouped = delivery(server, &format!("{window}&group_by=team"));
        assert_eq!(grouped["deployments"], 4);
        let groups = grouped["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["key"], "core");
        assert_eq!(groups[0]["deployments"], 2);
        assert_eq!(
            groups[0]["recovery_time"],
            json!({"median_s": null, "p90_s": null, "recovered": 0, "unrecovered": 1})
        );
        assert_eq!(groups[1]["key"], "ops");
        assert_eq!(groups[1]["rework_rate"], 0.5);
        assert_eq!(groups[1]["series"].as_array().map(Vec::len), Some(2));
        // A group is the same as filtering by its key.
        let mut core = delivery(server, &format!("{window}&team=core"));
        core["key"] = json!("core");
        for field in ["from", "to", "days"] {
            core.as_object_mut().map(|o| o.remove(field));
        }
        assert_eq!(groups[0], core);

        let eu_web = delivery(
            server,
            &format!("{window}&platform=eu&package=web&user=alice"),
        );
        assert_eq!(eu_web["deployments"], 3);
        assert_eq!(eu_web["recovery_time"]["recovered"], 1);

        // An empty window (from a date, to in another offset).
        let empty = delivery(
            server,
            &format!(
                "from={}&to={}",
                &iso(b + Duration::days(10))[..10],
                (b + Duration::days(11))
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("format")
            ),
        );
        assert_eq!(empty["deployments"], 0);
        assert_eq!(empty["change_failure_rate"], Value::Null);
        assert_eq!(empty["rework_rate"], Value::Null);
        assert_eq!(empty["deployment_frequency"]["band"], "yearly");
        assert_eq!(
            empty["series"],
            json!([{"date": iso(b + Duration::days(10))[..10], "deployments": 0, "failed": 0, "median_duration_s": null}])
        );

        // The default window is the last 30 days: the seeded releases finish after now.
        let recent = delivery(server, "");
        assert_eq!(recent["deployments"], 0);
        assert_eq!(recent["series"].as_array().map(Vec::len), Some(31));
    });
}

#[test]
fn bad_parameters_are_400_in_the_envelope() {
    TestServer::each_backend(|server| {
        for (query, needle) in [
            (
                "from=2026-02-01&to=2026-01-01",
                "'from' must be before 'to'",
            ),
            ("from=last%20week", "'from'"),
            ("to=2026-02-30", "'to'"),
            ("group_by=user", "'group_by'"),
            ("platform=", "'platform'"),
            ("teams=core", "Unknown parameter 'teams'"),
        ] {
            let reply = server.get(&format!("/api/v1/delivery?{query}"));
            reply.expect(400);
            let body = reply.json();
            assert_eq!(body["status"], "failure", "{query}");
            assert_eq!(body["data"], Value::Null);
            assert_eq!(body["errors"][0]["code"], "bad-request");
            let message = body["errors"][0]["message"].as_str().expect("message");
            assert!(message.contains(needle), "{query}: {message}");
        }
    });
}
