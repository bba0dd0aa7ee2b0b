//! The rules file `shiplog rules eval --rules FILE` reads: rules, emergency shutoffs and release
//! blobs in one JSON document, checked as the admin API checks them, ready to compile.
//!
//! The document is either a list of rules, or an object with any of `"rules"`,
//! `"emergency_shutoffs"`, `"releases"` and `"pinnable_releases"` (`{product, channel, version,
//! mapping}`, as `GET /api/v2/pins/…` answers each; the pins `?pin=` queries are served by):
//!
//! ```json
//! {"rules": [{"rule_id": 7, "priority": 90, "backgroundRate": 100, "update_type": "minor",
//!             "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release*"}],
//!  "emergency_shutoffs": [{"product": "Firefox", "channel": "beta"}],
//!  "releases": [{"name": "Firefox-61.0", "product": "Firefox", "data": {"name": "Firefox-61.0",
//!                "schema_version": 4, "appVersion": "61.0", "platforms": {}}}]}
//! ```
//!
//! A rule's columns are Balrog's; `rule_id` defaults to the rule's position (from 1) and
//! `data_version` to 1. A rule's `mapping` may be null, as Balrog's database allows: the rule
//! then serves nothing to the clients it matches. What Balrog's `GET /api/rules` answers
//! (`{"count": n, "rules": [...]}`) is a rules file as it is. A release the rules map to but the file does not describe gets a
//! placeholder blob that always serves, since nothing is known to check it against; so does a
//! pinned release the file does not describe.

use serde_json::{json, Map, Value};

use super::named_release::NamedRelease;
use super::pin::{PinVersion, PinnableRelease};
use super::rule::{Rule, RuleChanges, RuleFields};
use super::rule_set::RuleSet;
use super::shutoff::EmergencyShutoff;
use crate::error::DomainResult;

/// Why a rules file cannot be read; the message names the rule, shutoff or key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesFileError {
    /// The text is not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// The JSON is not a rules file, or one of its entries is refused.
    #[error("{0}")]
    Invalid(String),
}

/// A rules file, read and checked.
///
/// ```
/// use shiplog_domain::balrog::{FixedRoll, Query, RulesFile};
///
/// let file = RulesFile::parse(r#"[{"priority": 10, "backgroundRate": 100,
///     "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox"}]"#)?;
/// assert_eq!(file.placeholders(), ["Firefox-61.0"]);
/// let set = file.compile()?;
/// let decision = set.evaluate(&Query::new("Firefox", "60.0"), &mut FixedRoll(0))?;
/// assert_eq!(decision.mapping(), Some("Firefox-61.0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RulesFile {
    /// The rules, in the file's order.
    pub rules: Vec<Rule>,
    /// The emergency shutoffs.
    pub shutoffs: Vec<EmergencyShutoff>,
    /// The releases the file describes, then a placeholder for each release a rule maps to
    /// that the file does not describe.
    pub releases: Vec<NamedRelease>,
    /// The pinnable releases (`?pin=`).
    pub pins: Vec<PinnableRelease>,
    placeholders: Vec<String>,
}

impl RulesFile {
    /// Reads a rules file's text.
    pub fn parse(text: &str) -> Result<RulesFile, RulesFileError> {
        let document: Value =
            serde_json::from_str(text).map_err(|e| RulesFileError::NotJson(e.to_string()))?;
        RulesFile::from_json(&document)
    }

    /// Reads a rules file already parsed as JSON.
    pub fn from_json(document: &Value) -> Result<RulesFile, RulesFileError> {
        let invalid = RulesFileError::Invalid;
        let (rules, shutoffs, releases, pins) = match document {
            Value::Array(rules) => (&rules[..], &[][..], &[][..], &[][..]),
            Value::Object(object) => {
                let list = |key: &str| match object.get(key) {
                    None | Some(Value::Null) => Ok(&[][..]),
                    Some(Value::Array(items)) => Ok(&items[..]),
                    Some(_) => Err(invalid(format!("{key:?} must be a list"))),
                };
                (
                    list("rules")?,
                    list("emergency_shutoffs")?,
                    list("releases")?,
                    list("pinnable_releases")?,
                )
            }
            _ => {
                return Err(invalid(
                    "expected a list of rules or an object with \"rules\"".into(),
                ))
            }
        };
        let rules = rules
            .iter()
            .enumerate()
            .map(|(position, value)| read_rule(position, value).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let shutoffs = shutoffs
            .iter()
            .map(|value| read_shutoff(value).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let mut named = releases
            .iter()
            .map(|value| {
                let text = |key: &str| value.get(key).and_then(Value::as_str);
                let name =
                    text("name").ok_or_else(|| invalid("a release without a name".into()))?;
                Ok(NamedRelease::new(
                    name,
                    text("product").unwrap_or_default(),
                    value.get("data").cloned().unwrap_or(Value::Null),
                ))
            })
            .collect::<Result<Vec<_>, RulesFileError>>()?;
        let pins = pins
            .iter()
            .map(|value| read_pin(value).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let mut placeholders = Vec::new();
        let pinned = pins
            .iter()
            .map(|p| (p.product.as_str(), p.mapping.as_str()));
        for (product, name) in pinned {
            if !named.iter().any(|r| r.name == name) {
                placeholders.push(name.to_owned());
                named.push(NamedRelease::new(
                    name,
                    product,
                    json!({"name": name, "schema_version": 4000}),
                ));
            }
        }
        for rule in &rules {
            for (_, name) in rule.fields.mapped_releases() {
                if !named.iter().any(|r| r.name == name) {
                    placeholders.push(name.to_owned());
                    // A blob kind that always serves (an empty superblob): nothing is known to check.
                    named.push(NamedRelease::new(
                        name,
                        rule.fields.product.as_deref().unwrap_or_default(),
                        json!({"name": name, "schema_version": 4000}),
                    ));
                }
            }
        }
        Ok(RulesFile {
            rules,
            shutoffs,
            releases: named,
            pins,
            placeholders,
        })
    }

    /// The names of the releases the rules map to that the file does not describe: they are
    /// served whatever the client, and their blobs are unknown.
    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }

    /// Whether `name` is one of the [`placeholders`](RulesFile::placeholders).
    pub fn is_placeholder(&self, name: &str) -> bool {
        self.placeholders.iter().any(|p| p == name)
    }

    /// Compiles the file's rules, shutoffs and releases for evaluation.
    pub fn compile(&self) -> DomainResult<RuleSet> {
        Ok(
            RuleSet::compile(&self.rules, &self.shutoffs, self.releases.clone())?
                .with_pins(&self.pins),
        )
    }
}

/// One rule of the file, checked as the admin API checks a new rule, except that its mapping
/// may be null, as in Balrog's own database.
fn read_rule(position: usize, value: &Value) -> Result<Rule, String> {
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
    let columns: &Map<String, Value> = map;
    let fields = RuleChanges::parse_stored(columns)
        .and_then(|changes| RuleFields::create_stored(&changes))
        .map_err(|e| format!("rule {rule_id}: {e}"))?;
    Ok(Rule {
        rule_id,
        fields,
        data_version,
    })
}

/// One emergency shutoff, checked as the admin API checks a new one.
fn read_shutoff(value: &Value) -> Result<EmergencyShutoff, String> {
    let shutoff: EmergencyShutoff =
        serde_json::from_value(value.clone()).map_err(|e| format!("an emergency shutoff: {e}"))?;
    EmergencyShutoff::new(
        &shutoff.product,
        &shutoff.channel,
        shutoff.comment.as_deref(),
    )
    .map_err(|e| format!("an emergency shutoff: {e}"))
}

/// One pinnable release of the file: product, channel and mapping as text, the version a pin
/// (`X.` or `X.Y.`, stored in its canonical form).
fn read_pin(value: &Value) -> Result<PinnableRelease, String> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("a pinnable release without a {key}"))
    };
    let version =
        PinVersion::parse(text("version")?).map_err(|e| format!("a pinnable release: {e}"))?;
    Ok(PinnableRelease {
        product: text("product")?.to_owned(),
        channel: text("channel")?.to_owned(),
        version: version.to_string(),
        mapping: text("mapping")?.to_owned(),
        data_version: value
            .get("data_version")
            .and_then(Value::as_i64)
            .unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balrog::{FixedRoll, Query, Reason};

    #[test]
    fn an_object_with_rules_shutoffs_and_releases_compiles() {
        let file = RulesFile::parse(
            r#"{"rules": [
                {"rule_id": 7, "priority": 90, "backgroundRate": 50, "update_type": "minor",
                 "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0",
                 "product": "Firefox", "channel": "release*"},
                {"priority": 10, "backgroundRate": 100, "update_type": "minor",
                 "mapping": "Firefox-60.0", "product": "Firefox"}
            ], "emergency_shutoffs": [{"product": "Firefox", "channel": "beta"}],
            "releases": [{"name": "Firefox-60.0", "product": "Firefox",
                "data": {"name": "Firefox-60.0", "schema_version": 4000}}]}"#,
        )
        .expect("valid");
        assert_eq!(
            file.rules.iter().map(|r| r.rule_id).collect::<Vec<_>>(),
            [7, 2],
            "a rule without an id takes its position"
        );
        assert_eq!(file.placeholders(), ["Firefox-61.0"]);
        assert!(file.is_placeholder("Firefox-61.0") && !file.is_placeholder("Firefox-60.0"));
        let set = file.compile().expect("compiles");
        let on = |channel| Query {
            channel: Some(channel),
            ..Query::new("Firefox", "60.0")
        };
        let decision = set
            .evaluate(&on("release"), &mut FixedRoll(10))
            .expect("ok");
        assert_eq!(decision.mapping(), Some("Firefox-61.0"));
        let beta = set.evaluate(&on("beta"), &mut FixedRoll(10)).expect("ok");
        assert_eq!(beta.reason, Reason::Shutoff);
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        let error = |text: &str| RulesFile::parse(text).expect_err("refused").to_string();
        assert!(error("{").starts_with("not JSON"));
        assert_eq!(
            error("42"),
            "expected a list of rules or an object with \"rules\""
        );
        assert_eq!(error(r#"{"rules": {}}"#), "\"rules\" must be a list");
        assert_eq!(error("[1]"), "rule 1: not an object");
        assert!(error(r#"[{"priority": 1}]"#).starts_with("rule 1: "));
        assert_eq!(
            error(r#"[{"rule_id": "x"}]"#),
            "rule 1: rule_id must be an integer"
        );
        assert!(
            error(r#"{"emergency_shutoffs": [{"product": " ", "channel": "x"}]}"#)
                .starts_with("an emergency shutoff: ")
        );
        assert_eq!(
            error(r#"{"releases": [{"data": {}}]}"#),
            "a release without a name"
        );
    }

    #[test]
    fn balrogs_rule_listing_with_a_null_mapping_is_a_rules_file() {
        let file = RulesFile::parse(
            r#"{"count": 2, "rules": [
                {"rule_id": 3, "data_version": 4, "priority": 100, "backgroundRate": 100,
                 "update_type": "minor", "mapping": null, "alias": null, "product": "Firefox",
                 "channel": "release", "version": "<52.0", "comment": "no updates for them"},
                {"rule_id": 5, "data_version": 1, "priority": 10, "backgroundRate": 100,
                 "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox",
                 "channel": "release"}]}"#,
        )
        .expect("Balrog's listing reads as it is");
        assert_eq!(file.rules[0].rule_id, 3);
        assert_eq!(file.rules[0].data_version, 4);
        let set = file.compile().expect("compiles");
        let mut query = Query::new("Firefox", "51.0");
        query.channel = Some("release");
        let held = set.evaluate(&query, &mut FixedRoll(0)).expect("evaluates");
        assert_eq!(held.rule.map(|r| r.rule_id), Some(3));
        assert_eq!(held.mapping(), None);
        assert_eq!(held.reason, Reason::NoMapping);
        query.version = "60.0";
        let served = set.evaluate(&query, &mut FixedRoll(0)).expect("evaluates");
        assert_eq!(served.mapping(), Some("Firefox-61.0"));
    }

    #[test]
    fn pinnable_releases_are_read_and_served_to_pinned_queries() {
        let release = |name: &str, version: &str| {
            json!({"name": name, "product": "Firefox", "data": {"name": name,
                "schema_version": 4, "appVersion": version, "platforms": {"WINNT": {"locales":
                {"de": {"buildID": "20180601000000"}}}}}})
        };
        let document = json!({
            "rules": [{"priority": 10, "backgroundRate": 100, "update_type": "minor",
                       "mapping": "Firefox-61.0", "product": "Firefox"}],
            "releases": [release("Firefox-61.0", "61.0"), release("Firefox-60.5", "60.5")],
            "pinnable_releases": [
                {"product": "Firefox", "channel": "release", "version": "60.",
                 "mapping": "Firefox-60.5"},
                {"product": "Firefox", "channel": "release", "version": "59.",
                 "mapping": "Firefox-59.0"}]});
        let file = RulesFile::from_json(&document).expect("reads");
        assert_eq!(file.pins.len(), 2);
        assert_eq!(file.placeholders(), ["Firefox-59.0"]);
        let set = file.compile().expect("compiles");
        let query = |pin| Query {
            build_target: Some("WINNT"),
            locale: Some("de"),
            channel: Some("release"),
            build_id: Some("20180101000000"),
            pin: Some(pin),
            ..Query::new("Firefox", "58.0")
        };
        let decision = set.evaluate(&query("60."), &mut FixedRoll(0)).expect("ok");
        assert_eq!(decision.mapping(), Some("Firefox-60.5"));
        assert_eq!(decision.reason, Reason::ServedPinned);
        let bad = json!({"pinnable_releases": [{"product": "Firefox", "channel": "release",
            "version": "60", "mapping": "Firefox-60.5"}]});
        let err = RulesFile::from_json(&bad).expect_err("refused");
        assert!(err.to_string().contains("pin version"), "{err}");
    }

    #[test]
    fn a_rules_file_takes_balrogs_stored_version_lists_and_sticky_rules() {
        // A version list mixing an operator and a glob, as old Balrog databases hold them
        // (its validator refuses it today), and a sticky rollout.
        let file = RulesFile::parse(
            r#"[{"rule_id": 4, "priority": 100, "backgroundRate": 40, "update_type": "minor",
                 "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.5",
                 "product": "Firefox", "version": "<56.0,58.*,>=60.0",
                 "stickyBy": "query:clientId"}]"#,
        )
        .expect("read as Balrog stores it");
        assert_eq!(
            file.rules[0].fields.sticky_by.as_deref(),
            Some("query:clientId")
        );
        let set = file.compile().expect("compiles");
        for (version, matches) in [
            ("55.0", true),
            ("58.0.2", true),
            ("59.0", false),
            ("60.0", true),
        ] {
            let decision = set
                .evaluate(&Query::new("Firefox", version), &mut FixedRoll(0))
                .expect("evaluates");
            assert_eq!(decision.rule.is_some(), matches, "{version}");
        }
        // A bad stickyBy is still refused, naming the rule.
        let error = RulesFile::parse(
            r#"[{"priority": 1, "backgroundRate": 40, "update_type": "minor",
                 "mapping": "x", "stickyBy": "cookie:id"}]"#,
        )
        .expect_err("refused")
        .to_string();
        assert!(
            error.starts_with("rule 1: ") && error.contains("stickyBy"),
            "{error}"
        );
    }
}
