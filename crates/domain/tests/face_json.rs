//! Every face's JSON that a domain type models reads into that type and writes back unchanged,
//! using only what the crate exports (as an embedder would).

use shiplog_domain::balrog::{EmergencyShutoff, Rule};
use shiplog_domain::serde_json::{self, json, Value};
use shiplog_domain::{
    PackageStatus, PermissionName, PermissionOptions, Release, Ticket, TicketField,
};

/// Reads `wire` as `T`, writes it back, and checks nothing was lost or added.
fn round_trip<T>(wire: &Value) -> T
where
    T: shiplog_domain::serde::de::DeserializeOwned + shiplog_domain::serde::Serialize,
{
    let typed: T = serde_json::from_value(wire.clone()).expect("reads");
    assert_eq!(&serde_json::to_value(&typed).expect("writes"), wire);
    typed
}

fn orlo_package(id: &str, status: &str, ftime: Value) -> Value {
    json!({
        "id": id, "release_id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1",
        "name": "web", "version": "1.0.1", "status": status, "rollback": false,
        "diff_url": "https://example.com/diff/1", "stime": "2015-12-17T17:02:04Z",
        "ftime": ftime, "duration": if ftime.is_null() { Value::Null } else { json!(20) }
    })
}

#[test]
fn an_orlo_release_as_get_releases_id_answers_it() {
    let answer = json!({"releases": [{
        "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "alice", "team": "A-Team",
        "platforms": ["site1", "site2"], "references": ["JIRA-1"],
        "stime": "2015-12-17T17:02:04Z", "ftime": "2015-12-17T17:03:04Z", "duration": 60,
        "notes": ["first", "second"], "metadata": {"build": "42", "ci": "jenkins"},
        "packages": [
            orlo_package("6e0a4ba0-1b5b-4b1e-a4a3-1b9b9a4cfd38", "SUCCESSFUL", json!("2015-12-17T17:02:24Z")),
            orlo_package("7f1b5cb1-2c6c-4c2f-b5b4-2c0c0b5d0e49", "IN_PROGRESS", Value::Null),
        ],
        "status": "IN_PROGRESS", "recorded_by": "alice"
    }]});
    let release: Release = round_trip(&answer["releases"][0]);
    assert_eq!(release.status(), Some(PackageStatus::InProgress));
    assert_eq!(release.packages[0].duration, Some(20));
    assert_eq!(release.ftime.map(|t| t.unix_timestamp()), Some(1450371784));
}

#[test]
fn an_orlo_release_from_before_recorded_by_or_with_other_time_forms_reads() {
    // Real Orlo sends no `recorded_by`; older clients send unix seconds or offsets.
    let release: Release = serde_json::from_value(json!({
        "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "bob", "team": null,
        "platforms": ["site1"], "references": [], "stime": 1450371724, "ftime": null,
        "duration": null, "notes": [], "metadata": {}, "packages": [], "status": null,
        "unknown_key": true
    }))
    .expect("reads");
    assert_eq!(release.recorded_by, None);
    assert_eq!(
        serde_json::to_value(&release).expect("writes")["stime"],
        "2015-12-17T17:02:04Z"
    );
    let offset: Release = serde_json::from_value(json!({
        "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "bob",
        "platforms": [], "stime": "2015-12-17T18:02:04+01:00"
    }))
    .expect("reads");
    assert_eq!(offset.stime, release.stime);
    assert!(serde_json::from_value::<Release>(json!({
        "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "bob",
        "platforms": [], "stime": "soon"
    }))
    .is_err());
}

#[test]
fn a_balrog_rule_as_get_api_rules_id_answers_it() {
    let wire = json!({
        "rule_id": 7, "data_version": 3, "alias": "firefox-release", "priority": 90,
        "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0", "backgroundRate": 50,
        "update_type": "minor", "product": "Firefox", "version": ">=56.0",
        "channel": "release*", "buildTarget": null, "buildID": null, "locale": "de,en-US",
        "osVersion": null, "memory": "<2048", "instructionSet": null, "distribution": null,
        "distVersion": null, "headerArchitecture": null, "mig64": null, "jaws": false,
        "whitelist": null, "comment": "half of release"
    });
    let rule: Rule = round_trip(&wire);
    assert_eq!(rule.to_json(), wire);
}

#[test]
fn a_balrog_emergency_shutoff_as_the_admin_api_answers_it() {
    let wire = json!({"product": "Firefox", "channel": "release", "comment": "bad build",
        "data_version": 2});
    let shutoff: EmergencyShutoff = round_trip(&wire);
    assert_eq!(shutoff.to_json(), wire);
}

#[test]
fn balrog_permission_options_as_the_admin_api_answers_them() {
    let wire = json!({"products": ["Firefox"], "actions": ["create", "modify"]});
    let options = PermissionOptions::parse(PermissionName::Rule, &wire).expect("valid");
    assert_eq!(options.to_json(), wire);
}

#[test]
fn a_bileto_ticket_with_comments_as_v1_tickets_answers_it() {
    let mut wire = json!({
        "request_id": 12, "date": "2015-07-01T13:11:58.852196",
        "comments": [{"id": 3, "request_id": 12, "author": "timo",
            "date": "2015-07-06T06:30:12.899689", "text": "Ready for QA"}]
    });
    for field in TicketField::ALL {
        wire[field.name()] = json!(format!("{} text", field.name()));
    }
    let ticket: Ticket = serde_json::from_value(wire.clone()).expect("reads");
    // `search` is computed: reading ignores it, writing adds it.
    wire["search"] = json!(ticket.search());
    let ticket: Ticket = round_trip(&wire);
    assert_eq!(ticket.comments[0].author, "timo");
    assert_eq!(ticket.date.microsecond(), 852_196);
}
