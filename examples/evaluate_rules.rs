//! Embedding shiplog's rule evaluation: build Balrog rules in code, compile them once, evaluate
//! client queries with no server and no database, and render the update.xml a client would get.
//! Everything comes from `shiplog-domain` alone (it re-exports `serde_json`).
//!
//! Run: `cargo run -p shiplog-domain --example evaluate_rules`

use shiplog_domain::balrog::{update_xml, FixedRoll, NamedRelease, Query, Rule, RuleSet};
use shiplog_domain::serde_json::{json, Value};

/// A small app release blob (schema 4) with one German Windows build.
fn blob(name: &str, version: &str) -> Value {
    json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
        "appVersion": version, "displayVersion": version,
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180620000000",
            "completes": [{"from": "*", "filesize": 41, "hashValue": "abc",
                "fileUrl": format!("https://dl.example.com/{version}/de.complete.mar")}]}}}}})
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Each rule is checked as the admin API checks a new one.
    let rules = vec![
        // Half of release users get 61.0, the others stay on 60.0.
        Rule::builder(1, "Firefox-61.0")
            .product("Firefox")
            .channel("release*")
            .version(">=56.0")
            .priority(100)
            .background_rate(50)
            .fallback_mapping("Firefox-60.0")
            .build()?,
        // Windows XP is no longer supported: a higher priority wins.
        Rule::builder(2, "Desupport")
            .product("Firefox")
            .os_version("Windows_NT 5.1")
            .priority(200)
            .build()?,
    ];
    // Releases outside any ledger: no id to invent.
    let releases = vec![
        NamedRelease::new("Firefox-61.0", "Firefox", blob("Firefox-61.0", "61.0")),
        NamedRelease::new("Firefox-60.0", "Firefox", blob("Firefox-60.0", "60.0")),
        NamedRelease::new(
            "Desupport",
            "Firefox",
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
    // A superblob would evaluate other products too, with the same dice.
    println!("{}", update_xml(&set, &decision, &xp, &mut FixedRoll(0))?);
    Ok(())
}
