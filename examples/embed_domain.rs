//! Embedding shiplog's domain crate: the same status rules and timestamp parsing the server
//! applies, with no server and no database.
//!
//! Run: `cargo run -p shiplog-domain --example embed_domain`

use shiplog_domain::{timestamp, NewPackage, NewRelease, PackageStatus, ReleaseStatus};

fn main() -> Result<(), shiplog_domain::DomainError> {
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
    Ok(())
}
