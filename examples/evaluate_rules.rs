//! Embedding shiplog's rule evaluation: compile Balrog rules once, evaluate client queries with
//! no server and no database, and render the update.xml a client would get.
//!
//! Run: `cargo run -p shiplog-domain --example evaluate_rules`

use serde_json::json;
use shiplog_domain::balrog::{
    update_xml, FixedRoll, NamedRelease, Query, Rule, RuleChanges, RuleFields, RuleSet,
};
use shiplog_domain::{DomainError, ReleaseId};

fn rule(rule_id: i64, columns: serde_json::Value) -> Result<Rule, DomainError> {
    let serde_json::Value::Object(columns) = columns else {
        return Err(DomainError::field("rule", "must be an object"));
    };
    // The same checks the admin API applies before it stores a rule.
    let fields = RuleFields::create(&RuleChanges::parse(&columns)?)?;
    Ok(Rule {
        rule_id,
        fields,
        data_version: 1,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rules = vec![
        // Half of release users get 61.0, the others stay on 60.0.
        rule(
            1,
            json!({"priority": 100, "backgroundRate": 50, "update_type": "minor",
            "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
            "product": "Firefox", "channel": "release*", "version": ">=56.0"}),
        )?,
        // Windows XP is no longer supported: a higher priority wins.
        rule(
            2,
            json!({"priority": 200, "backgroundRate": 100, "update_type": "minor",
            "mapping": "Desupport", "product": "Firefox", "osVersion": "Windows_NT 5.1"}),
        )?,
    ];
    let blob = |name: &str, version: &str| {
        json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
            "appVersion": version, "displayVersion": version,
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
                "completes": [{"from": "*", "filesize": 41, "hashValue": "abc",
                    "fileUrl": format!("https://dl.example.com/{version}/de.complete.mar")}]}}}}})
    };
    let release = |name: &str, data| NamedRelease {
        id: ReleaseId::new(),
        name: name.to_owned(),
        product: "Firefox".to_owned(),
        data,
        read_only: false,
        data_version: 1,
    };
    let releases = vec![
        release("Firefox-61.0", blob("Firefox-61.0", "61.0")),
        release("Firefox-60.0", blob("Firefox-60.0", "60.0")),
        release(
            "Desupport",
            json!({"name": "Desupport", "schema_version": 50,
                "detailsUrl": "https://example.com/%LOCALE%/unsupported", "displayVersion": "61.0"}),
        ),
    ];
    let set = RuleSet::compile(&rules, &[], releases)?;

    let client = Query {
        build_id: Some("20180101000000"),
        build_target: Some("WINNT_x86_64-msvc"),
        locale: Some("de"),
        channel: Some("release-cck-partner"),
        os_version: Some("Windows_NT 10.0"),
        ..Query::new("Firefox", "59.0")
    };
    // The dice are injected: a roll below the background rate gets the main mapping.
    for roll in [10, 90] {
        let decision = set.evaluate(&client, &mut FixedRoll(roll))?;
        println!(
            "roll {roll}: rule {:?} serves {:?} ({})",
            decision.rule.map(|r| r.rule_id),
            decision.mapping(),
            decision.reason
        );
    }
    let xp = Query {
        os_version: Some("Windows_NT 5.1.2600"),
        ..client
    };
    let decision = set.evaluate(&xp, &mut FixedRoll(0))?;
    println!("{}", update_xml(&set, &decision, &xp));
    Ok(())
}
