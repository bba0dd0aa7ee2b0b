//! `shiplog rules eval`: the answer /api/v1/evaluate would give, from the command line. The query
//! is read and checked by the same code as the endpoint; the rules come from the configured
//! database, or — with `--rules FILE` — only from a file, evaluated with the domain crate alone.

use std::path::Path;

use serde_json::Value;
use shiplog_api::native::{parse_query, EvaluationData};
use shiplog_domain::balrog::{FixedRoll, RuleSet, RulesFile, RulesFileError, SplitMix64};
use shiplog_storage::Store;

use crate::config::{DatabaseArgs, EvalArgs};

/// Percent-encodes a query-string component.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The query as the endpoint's query string: the named flags, then every `--query KEY=VALUE`.
fn query_string(args: &EvalArgs) -> Result<String, String> {
    let named = [
        ("product", &args.product),
        ("version", &args.version),
        ("channel", &args.channel),
        ("buildID", &args.build_id),
        ("buildTarget", &args.build_target),
        ("locale", &args.locale),
        ("osVersion", &args.os_version),
        ("pin", &args.pin),
    ];
    let mut pairs: Vec<(String, String)> = named
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    for item in &args.query {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--query {item:?}: expected KEY=VALUE"))?;
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

pub fn eval(
    args: &EvalArgs,
    open_store: impl FnOnce(&DatabaseArgs) -> Result<Store, String>,
) -> Result<(), String> {
    let owned = parse_query(&query_string(args)?)
        .map_err(|e| crate::query_words::in_cli_words(e.message()))?;
    let (set, placeholders) = load(args.rules.as_deref(), &args.database, open_store)?;
    let query = owned.query();
    let decision = match args.roll {
        Some(roll) => set.evaluate(&query, &mut FixedRoll(roll)),
        None => {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            set.evaluate(&query, &mut SplitMix64(seed))
        }
    }
    .map_err(|e| e.to_string())?;
    let mut data = EvaluationData::from_decision(&decision);
    // A release the file did not describe has no blob to show.
    if let Some(release) = data.release.as_mut() {
        if placeholders.contains(&release.name) {
            release.data = Value::Null;
        }
    }
    let text = serde_json::to_string_pretty(&data).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// The rule set to evaluate: from `rules` (a file) if given, else from the database.
pub(crate) fn load(
    rules: Option<&Path>,
    database: &DatabaseArgs,
    open_store: impl FnOnce(&DatabaseArgs) -> Result<Store, String>,
) -> Result<(RuleSet, Vec<String>), String> {
    match rules {
        Some(path) => from_file(path),
        None => {
            let store = open_store(database)?;
            let snapshot = store
                .load_evaluation_snapshot()
                .map_err(|e| format!("cannot read the rules: {e}"))?;
            let set = RuleSet::compile(&snapshot.rules, &snapshot.shutoffs, snapshot.releases)
                .map_err(|e| e.to_string())?
                .with_pins(&snapshot.pins);
            Ok((set, Vec::new()))
        }
    }
}

/// Reads a rules file (its format is `shiplog_domain::balrog::rules_file`'s). Releases the rules
/// map to but the file does not describe are taken as always served (their blobs are unknown
/// offline); their names are returned with the set.
fn from_file(path: &Path) -> Result<(RuleSet, Vec<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = RulesFile::parse(&text).map_err(|e| match e {
        RulesFileError::NotJson(e) => format!("{} is not JSON: {e}", path.display()),
        RulesFileError::Invalid(message) => message,
    })?;
    let set = file.compile().map_err(|e| e.to_string())?;
    Ok((set, file.placeholders().to_vec()))
}
