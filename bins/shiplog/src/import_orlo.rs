//! `shiplog import orlo --from URL`: copies every release, with its packages, from a running
//! Orlo (or another shiplog: it speaks the same API) into this ledger.
//!
//! The source is read a page at a time in ascending start time (`/releases?asc=true&limit&
//! offset`), so releases recorded at the source while the copy runs only add pages at the end.
//! Each release keeps its id and its packages' ids; a release whose id is here already is
//! skipped, so running the command again copies nothing twice, and a copy that was stopped
//! resumes where it stopped (each page is recorded in its own transaction). A release the
//! ledger's rules refuse is reported with its reason and skipped; the rest are copied.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use shiplog_api::orlo::import::parse_release;
use shiplog_domain::{NewRelease, PackageId, ReleaseId};
use shiplog_storage::Store;
use time::OffsetDateTime;

use crate::config::ImportOrloArgs;
use crate::source::{progress, Source};

/// What a copy did, for the summary.
#[derive(Debug, Default)]
pub struct Copied {
    pub releases: usize,
    pub packages: usize,
    pub present: usize,
    pub refused: Vec<String>,
}

/// One page of releases; an empty page ends the copy.
fn page(source: &Source, limit: usize, offset: usize) -> Result<Vec<Value>, String> {
    let answer = source.get(&format!("/releases?asc=true&limit={limit}&offset={offset}"))?;
    let empty_listing = || {
        serde_json::from_str::<Value>(&answer.body)
            .is_ok_and(|doc| doc.get("releases").is_some_and(Value::is_array))
    };
    match answer.status {
        200 => {}
        // Orlo answers an empty listing with a 404 that still holds `"releases": []`; any
        // other 404 is a URL that is not an Orlo.
        404 if empty_listing() => return Ok(Vec::new()),
        _ => return Err(answer.refused()),
    }
    match answer.json()?.get("releases") {
        Some(Value::Array(releases)) => Ok(releases.clone()),
        _ => Err(format!(
            "GET {}: expected {{\"releases\": [...]}}, as Orlo answers",
            answer.url
        )),
    }
}

/// The release as this ledger records it, keeping the source's ids.
fn translate(source: &Value, now: OffsetDateTime, recorded_by: &str) -> Result<NewRelease, String> {
    let id = source
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse::<ReleaseId>().ok())
        .ok_or_else(|| "it has no id (a UUID)".to_owned())?;
    let mut release =
        parse_release(source, 0, now).map_err(|e| format!("{}: {}", e.field, e.reason))?;
    release.id = id;
    let source_packages = source
        .get("packages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (package, source) in release.packages.iter_mut().zip(source_packages) {
        if let Some(id) = source
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<PackageId>().ok())
        {
            package.id = id;
        }
    }
    release.recorded_by = Some(recorded_by.to_owned());
    Ok(release)
}

/// Copies every release of the source; returns what was done.
pub fn copy(
    store: &Store,
    args: &ImportOrloArgs,
    recorded_by: &str,
    quiet: bool,
) -> Result<Copied, String> {
    let page_size = usize::from(args.page_size);
    let source = Source::new(
        &args.from,
        args.token.clone(),
        Duration::from_secs(args.timeout),
    )?;
    let bar = progress(quiet);
    let mut copied = Copied::default();
    let mut offset = 0;
    loop {
        let page = page(&source, page_size, offset)?;
        if page.is_empty() {
            break;
        }
        offset += page.len();
        let now = OffsetDateTime::now_utc();
        let mut batch = Vec::with_capacity(page.len());
        for value in &page {
            let label = value
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("(no id)")
                .to_owned();
            match translate(value, now, recorded_by) {
                Ok(release) => batch.push(release),
                Err(reason) => copied.refused.push(format!("release {label}: {reason}")),
            }
        }
        let ids: Vec<ReleaseId> = batch.iter().map(|r| r.id).collect();
        let present = store
            .existing_release_ids(&ids)
            .map_err(|e| format!("cannot read this ledger: {e}"))?;
        batch.retain(|r| !present.contains(&r.id));
        copied.present += present.len();
        // The same release twice in one answer (a source changing under the copy): once.
        let mut seen = HashSet::with_capacity(batch.len());
        batch.retain(|r| seen.insert(r.id));
        if !batch.is_empty() {
            store
                .import_releases(&batch)
                .map_err(|e| format!("recording a page failed (the pages before it are kept; run again to resume): {e}"))?;
            copied.releases += batch.len();
            copied.packages += batch.iter().map(|r| r.packages.len()).sum::<usize>();
        }
        bar.set_message(format!(
            "{} releases copied, {} already here, {} refused",
            copied.releases,
            copied.present,
            copied.refused.len()
        ));
        bar.tick();
        if page.len() < page_size {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(copied)
}

/// The command: copy, then print the summary; refused releases make the exit status 1.
pub fn run(
    store: &Store,
    args: &ImportOrloArgs,
    recorded_by: &str,
    quiet: bool,
) -> Result<(), String> {
    let copied = copy(store, args, recorded_by, quiet)?;
    println!(
        "copied {} releases ({} packages) from {}; {} were here already; {} refused",
        copied.releases,
        copied.packages,
        args.from,
        copied.present,
        copied.refused.len()
    );
    for refusal in &copied.refused {
        println!("  refused {refusal}");
    }
    if copied.refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} releases were refused (listed above); the rest were copied",
            copied.refused.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orlo_release() -> Value {
        json!({"id": "1dfb4887-295e-44db-8576-491a163c4b96", "user": "alice", "team": null,
            "platforms": ["eu"], "references": [], "notes": ["n"], "metadata": {},
            "stime": "2015-12-17T17:02:04Z", "ftime": null, "duration": null,
            "packages": [{"id": "a5b2a4b8-1d1a-4b5e-9a59-7b5c7e0e8a01", "name": "web",
                "version": "1", "status": "IN_PROGRESS", "stime": "2015-12-17T17:02:04Z",
                "ftime": null, "rollback": false, "diff_url": null, "duration": null}]})
    }

    #[test]
    fn a_release_keeps_the_ids_orlo_gave_it() {
        let release =
            translate(&orlo_release(), OffsetDateTime::now_utc(), "cli:me").expect("valid");
        assert_eq!(
            release.id.to_string(),
            "1dfb4887-295e-44db-8576-491a163c4b96"
        );
        assert_eq!(
            release.packages[0].id.to_string(),
            "a5b2a4b8-1d1a-4b5e-9a59-7b5c7e0e8a01"
        );
        assert_eq!(release.recorded_by.as_deref(), Some("cli:me"));
    }

    #[test]
    fn a_release_this_ledger_refuses_says_why() {
        let now = OffsetDateTime::now_utc();
        let mut no_id = orlo_release();
        no_id["id"] = json!("not-a-uuid");
        assert_eq!(
            translate(&no_id, now, "cli:me").expect_err("refused"),
            "it has no id (a UUID)"
        );
        let mut bad_status = orlo_release();
        bad_status["packages"][0]["status"] = json!("DONE");
        let reason = translate(&bad_status, now, "cli:me").expect_err("refused");
        assert!(reason.starts_with("packages[0].status"), "{reason}");
    }
}
