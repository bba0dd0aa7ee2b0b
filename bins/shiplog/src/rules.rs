//! `shiplog rules eval`: the answer /api/v1/evaluate would give, from the command line. The query
//! is read and checked by the same code as the endpoint; the rules come from the configured
//! database, or — with `--rules FILE` — only from a file, evaluated with the domain crate alone.

use std::path::Path;

use serde_json::{Map, Value};
use shiplog_api::evaluation::{parse_query, EvaluationData};
use shiplog_domain::balrog::{
    EmergencyShutoff, FixedRoll, NamedRelease, Rule, RuleChanges, RuleFields, RuleSet, SplitMix64,
};
use shiplog_domain::ReleaseId;
use shiplog_storage::Store;

use crate::config::{DatabaseArgs, EvalArgs};

/// Percent-encodes a query-string component.
fn encode(text: &str) -> String {
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
    let owned = parse_query(&query_string(args)?).map_err(|e| e.message().to_owned())?;
    let (set, placeholders) = match &args.rules {
        Some(path) => from_file(path)?,
        None => {
            let store = open_store(&args.database)?;
            let snapshot = store
                .load_evaluation_snapshot()
                .map_err(|e| format!("cannot read the rules: {e}"))?;
            let set = RuleSet::compile(&snapshot.rules, &snapshot.shutoffs, snapshot.releases)
                .map_err(|e| e.to_string())?;
            (set, Vec::new())
        }
    };
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

/// Reads a rules file. Releases the rules map to but the file does not describe are taken as
/// always served (their blobs are unknown offline); their names are returned with the set.
fn from_file(path: &Path) -> Result<(RuleSet, Vec<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let document: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let (rules, shutoffs, releases) = match &document {
        Value::Array(rules) => (rules.clone(), Vec::new(), Vec::new()),
        Value::Object(object) => {
            let list = |key: &str| match object.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(format!("{key:?} must be a list")),
            };
            (
                list("rules")?,
                list("emergency_shutoffs")?,
                list("releases")?,
            )
        }
        _ => return Err("expected a list of rules or an object with \"rules\"".into()),
    };
    let rules = rules
        .into_iter()
        .enumerate()
        .map(|(position, value)| read_rule(position, value))
        .collect::<Result<Vec<_>, _>>()?;
    let shutoffs = shutoffs
        .into_iter()
        .map(|value| {
            let shutoff: EmergencyShutoff =
                serde_json::from_value(value).map_err(|e| format!("an emergency shutoff: {e}"))?;
            EmergencyShutoff::new(
                &shutoff.product,
                &shutoff.channel,
                shutoff.comment.as_deref(),
            )
            .map_err(|e| format!("an emergency shutoff: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut named = releases
        .into_iter()
        .map(|value| {
            let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
            Ok(NamedRelease {
                id: ReleaseId::new(),
                name: text("name").ok_or("a release without a name")?,
                product: text("product").unwrap_or_default(),
                data: value.get("data").cloned().unwrap_or(Value::Null),
                read_only: false,
                data_version: 1,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut placeholders = Vec::new();
    for rule in &rules {
        for (_, name) in rule.fields.mapped_releases() {
            if !named.iter().any(|r| r.name == name) {
                placeholders.push(name.to_owned());
                named.push(NamedRelease {
                    id: ReleaseId::new(),
                    name: name.to_owned(),
                    product: rule.fields.product.clone().unwrap_or_default(),
                    // A blob kind that always serves: nothing is known to check.
                    data: serde_json::json!({"name": name, "schema_version": 10000}),
                    read_only: false,
                    data_version: 1,
                });
            }
        }
    }
    let set = RuleSet::compile(&rules, &shutoffs, named).map_err(|e| e.to_string())?;
    Ok((set, placeholders))
}

/// One rule of the file, checked as the admin API checks a new rule; `rule_id` defaults to its
/// position (from 1) and `data_version` to 1.
fn read_rule(position: usize, value: Value) -> Result<Rule, String> {
    let Value::Object(map) = value else {
        return Err(format!("rule {}: not an object", position + 1));
    };
    let number = |key: &str, default: i64| -> Result<i64, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("rule {}: {key} must be an integer", position + 1)),
        }
    };
    let rule_id = number("rule_id", i64::try_from(position + 1).unwrap_or(i64::MAX))?;
    let data_version = number("data_version", 1)?;
    let fields: &Map<String, Value> = &map;
    let fields = RuleChanges::parse(fields)
        .and_then(|changes| RuleFields::create(&changes))
        .map_err(|e| format!("rule {rule_id}: {e}"))?;
    Ok(Rule {
        rule_id,
        fields,
        data_version,
    })
}
