//! Embedding shiplog's domain crate: the same status rules and timestamp parsing the server
//! applies, with no server and no database, and a release read from (and written back as) the
//! JSON the server's `GET /releases/{id}` answers.
//!
//! Run: `cargo run -p shiplog-domain --example embed_domain`

use shiplog_domain::serde_json::{self, json};
use shiplog_domain::{timestamp, NewPackage, NewRelease, PackageStatus, Release, ReleaseStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Parse the timestamps a deploy script might hand you, in any form Orlo accepted.
    let started = timestamp::parse("2015-12-17T17:02:04Z")?;
    let finished = timestamp::parse("1450371744")?;
    println!(
        "started {}, finished {}",
        timestamp::format(started),
        timestamp::format(finished)
    );

    // Build a release the way the ledger would record it, checked by the domain rules.
    let mut release = NewRelease::new("alice", vec!["site1".into()], started)?
        .with_team(Some("A-Team"))
        .finished_at(finished)?;
    release.packages = vec![
        NewPackage::new("web", "1.0.1").with_history(
            PackageStatus::Successful,
            Some(started),
            Some(finished),
        )?,
        NewPackage::new("api", "2.0").with_history(
            PackageStatus::Failed,
            Some(started),
            Some(finished),
        )?,
    ];
    println!("the release took {:?} seconds", release.duration());

    // Derive the release status from its packages: FAILED wins over everything.
    let status = ReleaseStatus::derive(release.packages.iter().map(|p| p.status));
    println!(
        "release status: {}",
        status.map_or("none".to_owned(), |s| s.to_string())
    );

    // Ask whether a package may move on.
    match PackageStatus::NotStarted.transition(PackageStatus::Successful) {
        Ok(_) => println!("allowed"),
        Err(refusal) => println!("refused: {refusal}"),
    }

    // A release exactly as `GET /releases/{id}` answers it (inside `{"releases": [...]}`).
    let answer = json!({"releases": [{
        "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "alice", "team": "A-Team",
        "platforms": ["site1"], "references": [], "notes": ["deployed by CI"],
        "metadata": {"build": "42"}, "stime": "2015-12-17T17:02:04Z",
        "ftime": "2015-12-17T17:02:24Z", "duration": 20, "status": "FAILED", "recorded_by": "ci",
        "packages": [{"id": "6e0a4ba0-1b5b-4b1e-a4a3-1b9b9a4cfd38",
            "release_id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "name": "api",
            "version": "2.0", "status": "FAILED", "rollback": false, "diff_url": null,
            "stime": "2015-12-17T17:02:04Z", "ftime": "2015-12-17T17:02:24Z", "duration": 20}]
    }]});
    let fetched: Release = serde_json::from_value(answer["releases"][0].clone())?;
    println!(
        "release {} by {}: {:?}",
        fetched.id,
        fetched.user,
        fetched.status()
    );
    // Written back, it is the server's JSON again, derived status included.
    assert_eq!(serde_json::to_value(&fetched)?, answer["releases"][0]);
    Ok(())
}
