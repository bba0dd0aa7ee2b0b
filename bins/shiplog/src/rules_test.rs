//! `shiplog rules test CASES`: a file of queries with the answer each must get, checked against
//! the configured database or a rules file. A team keeps the file beside its release process and
//! runs it in CI; a mismatch prints what was expected and what came, and the command fails.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use shiplog_api::native::{parse_query_object, EvaluationData};
use shiplog_domain::balrog::{FixedRoll, RuleSet};
use shiplog_storage::Store;

use crate::config::{DatabaseArgs, RulesTestArgs};

/// One case of a test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Shown in the report; defaults to the case's position.
    name: Option<String>,
    /// The query, with the keys of `/api/v1/evaluate`.
    query: Value,
    /// The background-rate roll (0–99); 0 falls inside every rate above 0.
    #[serde(default)]
    roll: u8,
    expect: Expect,
}

/// What a case must get; only the keys given are compared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The winning rule's id; `null` when no rule wins.
    #[serde(default, deserialize_with = "present")]
    rule_id: Option<Option<i64>>,
    /// The release served; `null` when nothing is.
    #[serde(default, deserialize_with = "present")]
    mapping: Option<Option<String>>,
    /// The reason, exactly as `/api/v1/evaluate` words it.
    reason: Option<String>,
    /// A part of the error the query must be refused with.
    error: Option<String>,
}

/// Tells a key given as `null` (`Some(None)`) from a key not given (`None`).
fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn read_cases(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    // A list of cases, or {"cases": [...]}; read case by case, so a mistake names its case.
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map)
            if map.len() == 1 && map.get("cases").is_some_and(Value::is_array) =>
        {
            match map.remove("cases") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        _ => {
            return Err(format!(
                "{}: expected a list of cases or {{\"cases\": [...]}}",
                path.display()
            ))
        }
    };
    if items.is_empty() {
        return Err(format!("{}: there are no cases", path.display()));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let case: Case = serde_json::from_value(item)
                .map_err(|e| format!("{}: case {}: {e}", path.display(), i + 1))?;
            if case.roll > 99 {
                return Err(format!(
                    "{}: case {}: roll must be 0 to 99",
                    path.display(),
                    i + 1
                ));
            }
            let e = &case.expect;
            if e.rule_id.is_none() && e.mapping.is_none() && e.reason.is_none() && e.error.is_none()
            {
                return Err(format!(
                    "{}: case {}: expect names nothing to check (rule_id, mapping, reason or error)",
                    path.display(),
                    i + 1
                ));
            }
            Ok(case)
        })
        .collect()
}

/// The differences between what a case expects and what it got; empty when it passes.
fn check(case: &Case, set: &RuleSet) -> Vec<String> {
    // As JSON: `null`, or the name in quotes.
    let show = |v: &Option<String>| Value::from(v.clone()).to_string();
    let answer = parse_query_object(&case.query)
        .map_err(|e| crate::query_words::in_cli_words(e.message()))
        .and_then(|owned| {
            set.evaluate(&owned.query(), &mut FixedRoll(case.roll))
                .map(|d| EvaluationData::from_decision(&d))
                .map_err(|e| e.to_string())
        });
    let expect = &case.expect;
    let mut diffs = Vec::new();
    let data = match (answer, &expect.error) {
        (Err(error), Some(part)) if error.contains(part.as_str()) => return diffs,
        (Err(error), _) => {
            diffs.push(format!("refused: {error}"));
            return diffs;
        }
        (Ok(_), Some(part)) => {
            diffs.push(format!(
                "error: expected one containing {part:?}, got an answer"
            ));
            return diffs;
        }
        (Ok(data), None) => data,
    };
    if let Some(rule_id) = expect.rule_id {
        if rule_id != data.rule_id {
            diffs.push(format!(
                "rule_id: expected {}, got {}",
                rule_id.map_or("null".to_owned(), |id| id.to_string()),
                data.rule_id.map_or("null".to_owned(), |id| id.to_string())
            ));
        }
    }
    if let Some(mapping) = &expect.mapping {
        if *mapping != data.mapping {
            diffs.push(format!(
                "mapping: expected {}, got {}",
                show(mapping),
                show(&data.mapping)
            ));
        }
    }
    if let Some(reason) = &expect.reason {
        if *reason != data.reason {
            diffs.push(format!(
                "reason: expected {reason:?}, got {:?}",
                data.reason
            ));
        }
    }
    diffs
}

pub fn run(
    args: &RulesTestArgs,
    open_store: impl FnOnce(&DatabaseArgs) -> Result<Store, String>,
) -> Result<(), String> {
    let cases = read_cases(&args.cases)?;
    let (set, _) = crate::rules::load(args.rules.as_deref(), &args.database, open_store)?;
    let mut failed = 0;
    for (i, case) in cases.iter().enumerate() {
        let name = case
            .name
            .clone()
            .unwrap_or_else(|| format!("case {}", i + 1));
        let diffs = check(case, &set);
        if diffs.is_empty() {
            println!("ok    {name}");
        } else {
            failed += 1;
            println!("FAIL  {name}");
            for diff in diffs {
                println!("        {diff}");
            }
        }
    }
    let total = cases.len();
    println!("{total} cases: {} passed, {failed} failed", total - failed);
    if failed > 0 {
        return Err(format!("{failed} of {total} rule test cases failed"));
    }
    Ok(())
}
