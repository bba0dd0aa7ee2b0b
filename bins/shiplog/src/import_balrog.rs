//! `shiplog import balrog --from URL`: copies named releases (with their blobs), rules,
//! emergency shutoffs and, where the source shows them, permissions from a running Balrog admin
//! API (or another shiplog: it speaks the same API) into this database.
//!
//! Releases go first, since rules name them in their mappings. Each object is written in its
//! own transaction through the same storage calls the Balrog face uses (history records and
//! events included), after the same checks (`validate_blob`, the rule columns' parser), so a
//! copy that stops keeps what it wrote and the next run resumes. What is here already is
//! recognised and skipped, so running it again copies nothing twice:
//!
//! - a named release by its name, a shutoff by product and channel, a permission by user and
//!   name (the target's version is kept when they differ);
//! - a rule by its columns: rule ids are the target's to give (they are assigned in order and
//!   may be taken here), so a rule is here already when a rule with the very same columns is,
//!   and the summary lists each source id with the id it has here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use shiplog_domain::balrog::named_release::{parse_product, validate_blob};
use shiplog_domain::balrog::{EmergencyShutoff, ReleaseName, RuleChanges, RuleFields};
use shiplog_domain::{PermissionName, PermissionOptions, UserName};
use shiplog_storage::Store;
use time::OffsetDateTime;

use crate::config::ImportBalrogArgs;
use crate::source::{progress, Answer, Source};

/// What a copy did, for the summary.
#[derive(Debug, Default)]
pub struct Copied {
    pub releases: usize,
    pub rules: usize,
    pub shutoffs: usize,
    pub permissions: usize,
    /// Objects found here already.
    pub present: usize,
    /// Source rule id → the id it has here (copied now or before).
    pub rule_ids: BTreeMap<i64, i64>,
    /// What was not copied, and why.
    pub refused: Vec<String>,
    /// Set when the source does not show permissions (and why).
    pub no_permissions: Option<String>,
}

fn json_of(answer: &Answer) -> Result<Value, String> {
    if answer.status != 200 {
        return Err(answer.refused());
    }
    answer.json()
}

fn list<'a>(doc: &'a Value, key: &str, url: &str) -> Result<&'a Vec<Value>, String> {
    doc.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("GET {url}: expected {{\"{key}\": [...]}}, as Balrog answers"))
}

fn storage(err: &shiplog_storage::StorageError) -> String {
    err.to_string()
}

/// Named releases: the listing gives name, product and the read-only flag; each blob is one
/// more request.
fn copy_releases(
    store: &Store,
    source: &Source,
    changed_by: &str,
    copied: &mut Copied,
) -> Result<(), String> {
    let answer = source.get("/api/releases")?;
    let doc = json_of(&answer)?;
    for summary in list(&doc, "releases", &answer.url)? {
        let Some(name) = summary.get("name").and_then(Value::as_str) else {
            copied
                .refused
                .push("a release without a name in the listing".to_owned());
            continue;
        };
        if store
            .find_named_release(name)
            .map_err(|e| storage(&e))?
            .is_some()
        {
            copied.present += 1;
            continue;
        }
        let refuse = |reason: String| format!("release {name}: {reason}");
        let checked = ReleaseName::parse(name).map_err(|e| refuse(e.to_string()));
        let product = summary
            .get("product")
            .and_then(Value::as_str)
            .ok_or_else(|| "no product".to_owned())
            .and_then(|p| parse_product(p).map_err(|e| e.to_string()))
            .map_err(refuse);
        let (checked, product) = match (checked, product) {
            (Ok(checked), Ok(product)) => (checked, product),
            (Err(reason), _) | (_, Err(reason)) => {
                copied.refused.push(reason);
                continue;
            }
        };
        let blob_answer = source.get(&format!("/api/releases/{name}"))?;
        let blob = json_of(&blob_answer)?;
        if let Err(e) = validate_blob(name, &blob) {
            copied.refused.push(refuse(e.to_string()));
            continue;
        }
        let created = match store.insert_named_release(&checked, &product, &blob, changed_by) {
            Ok(created) => created,
            Err(e) => {
                copied.refused.push(refuse(storage(&e)));
                continue;
            }
        };
        if summary.get("read_only").and_then(Value::as_bool) == Some(true) {
            store
                .set_release_read_only(name, true, created.data_version, changed_by)
                .map_err(|e| refuse(format!("copied, but not made read-only: {e}")))?;
        }
        copied.releases += 1;
    }
    Ok(())
}

/// A rule from the listing as the columns a new rule takes: everything but its id and version.
/// Read as Balrog stores rules, not as its admin API takes new ones: a source's database may
/// hold a null mapping or a version list its validator would refuse today, and Balrog serves
/// them (docs/evaluation.md).
fn rule_fields(rule: &Value) -> Result<(i64, RuleFields), String> {
    let mut columns: Map<String, Value> = rule
        .as_object()
        .cloned()
        .ok_or_else(|| "not a JSON object".to_owned())?;
    let id = columns
        .remove("rule_id")
        .and_then(|id| id.as_i64())
        .ok_or_else(|| "no rule_id".to_owned())?;
    columns.remove("data_version");
    let fields = RuleChanges::parse_stored(&columns)
        .and_then(|changes| RuleFields::create_stored(&changes))
        .map_err(|e| e.to_string())?;
    Ok((id, fields))
}

fn copy_rules(
    store: &Store,
    source: &Source,
    changed_by: &str,
    copied: &mut Copied,
) -> Result<(), String> {
    let answer = source.get("/api/rules")?;
    let doc = json_of(&answer)?;
    let mut here = store.list_rules(None).map_err(|e| storage(&e))?;
    for rule in list(&doc, "rules", &answer.url)? {
        let label = rule
            .get("rule_id")
            .map_or_else(|| "?".to_owned(), Value::to_string);
        let (id, fields) = match rule_fields(rule) {
            Ok(parsed) => parsed,
            Err(reason) => {
                copied.refused.push(format!("rule {label}: {reason}"));
                continue;
            }
        };
        if let Some(existing) = here.iter().find(|r| r.fields == fields) {
            copied.rule_ids.insert(id, existing.rule_id);
            copied.present += 1;
            continue;
        }
        match store.insert_rule(&fields, changed_by) {
            Ok(created) => {
                copied.rule_ids.insert(id, created.rule_id);
                copied.rules += 1;
                here.push(created);
            }
            Err(e) => copied
                .refused
                .push(format!("rule {label}: {}", storage(&e))),
        }
    }
    Ok(())
}

fn copy_shutoffs(
    store: &Store,
    source: &Source,
    changed_by: &str,
    copied: &mut Copied,
) -> Result<(), String> {
    let answer = source.get("/api/emergency_shutoff")?;
    let doc = json_of(&answer)?;
    for value in list(&doc, "shutoffs", &answer.url)? {
        let shutoff: EmergencyShutoff = match serde_json::from_value(value.clone()) {
            Ok(shutoff) => shutoff,
            Err(e) => {
                copied.refused.push(format!("shutoff {value}: {e}"));
                continue;
            }
        };
        let label = format!("shutoff {}/{}", shutoff.product, shutoff.channel);
        if store
            .find_emergency_shutoff(&shutoff.product, &shutoff.channel)
            .map_err(|e| storage(&e))?
            .is_some()
        {
            copied.present += 1;
            continue;
        }
        match store.insert_emergency_shutoff(&shutoff, changed_by) {
            Ok(_) => copied.shutoffs += 1,
            Err(e) => copied.refused.push(format!("{label}: {}", storage(&e))),
        }
    }
    Ok(())
}

/// Permissions, where the source shows them (Balrog needs a credential that may read users).
fn copy_permissions(
    store: &Store,
    source: &Source,
    changed_by: &str,
    copied: &mut Copied,
) -> Result<(), String> {
    let answer = source.get("/api/users")?;
    if matches!(answer.status, 401 | 403 | 404) {
        copied.no_permissions = Some(format!(
            "the source does not show its users (GET /api/users: {})",
            answer.status
        ));
        return Ok(());
    }
    let users = json_of(&answer)?;
    let users = users
        .as_object()
        .ok_or_else(|| format!("GET {}: expected an object of users", answer.url))?;
    let now = OffsetDateTime::now_utc();
    for name in users.keys() {
        let user = match UserName::parse(name) {
            Ok(user) => user,
            Err(e) => {
                copied.refused.push(format!("user {name}: {e}"));
                continue;
            }
        };
        let answer = source.get(&format!("/api/users/{name}/permissions"))?;
        let held = json_of(&answer)?;
        let Some(held) = held.as_object() else {
            return Err(format!(
                "GET {}: expected an object of permissions",
                answer.url
            ));
        };
        for (permission, detail) in held {
            let label = format!("permission {name}/{permission}");
            let Some(kind) = PermissionName::parse(permission) else {
                copied
                    .refused
                    .push(format!("{label}: this database has no such permission"));
                continue;
            };
            // Balrog shows options as an object (or null); some versions as JSON text.
            let options = match detail.get("options") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
                Some(other) => other.clone(),
                None => Value::Null,
            };
            let options = match PermissionOptions::parse(kind, &options) {
                Ok(options) => options,
                Err(e) => {
                    copied.refused.push(format!("{label}: {e}"));
                    continue;
                }
            };
            if store
                .find_permission(&user, kind)
                .map_err(|e| storage(&e))?
                .is_some()
            {
                copied.present += 1;
                continue;
            }
            match store.put_permission(&user, kind, &options, None, changed_by, now) {
                Ok(_) => copied.permissions += 1,
                Err(e) => copied.refused.push(format!("{label}: {}", storage(&e))),
            }
        }
    }
    Ok(())
}

/// Copies everything the source shows, releases first; returns what was done.
pub fn copy(
    store: &Store,
    args: &ImportBalrogArgs,
    changed_by: &str,
    quiet: bool,
) -> Result<Copied, String> {
    let source = Source::new(
        &args.from,
        args.token.clone(),
        Duration::from_secs(args.timeout),
    )?;
    let bar = progress(quiet);
    let mut copied = Copied::default();
    bar.set_message("named releases");
    copy_releases(store, &source, changed_by, &mut copied)?;
    bar.set_message(format!("{} releases copied; rules", copied.releases));
    copy_rules(store, &source, changed_by, &mut copied)?;
    bar.set_message(format!(
        "{} releases, {} rules copied; shutoffs",
        copied.releases, copied.rules
    ));
    copy_shutoffs(store, &source, changed_by, &mut copied)?;
    bar.set_message(format!(
        "{} releases, {} rules, {} shutoffs copied; permissions",
        copied.releases, copied.rules, copied.shutoffs
    ));
    copy_permissions(store, &source, changed_by, &mut copied)?;
    bar.finish_and_clear();
    Ok(copied)
}

/// The command: copy, then print the summary; anything refused makes the exit status 1.
pub fn run(
    store: &Store,
    args: &ImportBalrogArgs,
    changed_by: &str,
    quiet: bool,
) -> Result<(), String> {
    let copied = copy(store, args, changed_by, quiet)?;
    println!(
        "copied {} releases, {} rules, {} emergency shutoffs and {} permissions from {}; \
         {} were here already; {} refused",
        copied.releases,
        copied.rules,
        copied.shutoffs,
        copied.permissions,
        args.from,
        copied.present,
        copied.refused.len()
    );
    let moved: Vec<String> = copied
        .rule_ids
        .iter()
        .filter(|(from, to)| from != to)
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    if !moved.is_empty() {
        println!("  rule ids here: {}", moved.join(", "));
    }
    if let Some(why) = &copied.no_permissions {
        println!("  permissions not copied: {why}");
    }
    for refusal in &copied.refused {
        println!("  refused {refusal}");
    }
    if copied.refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} objects were refused (listed above); the rest were copied",
            copied.refused.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listed_rule_becomes_its_columns_without_id_or_version() {
        let (id, fields) = rule_fields(&json!({"rule_id": 7, "data_version": 3,
            "product": "Firefox", "channel": "release", "mapping": "Firefox-60.0",
            "backgroundRate": 100, "priority": 90, "update_type": "minor"}))
        .expect("valid");
        assert_eq!(id, 7);
        let again = rule_fields(&json!({"rule_id": 8, "data_version": 1,
            "product": "Firefox", "channel": "release", "mapping": "Firefox-60.0",
            "backgroundRate": 100, "priority": 90, "update_type": "minor"}))
        .expect("valid");
        assert_eq!(fields, again.1, "the same columns are the same rule");
        assert!(rule_fields(&json!({"product": "Firefox"})).is_err());
        assert!(rule_fields(&json!({"rule_id": 1, "colour": "red"})).is_err());
    }
}
