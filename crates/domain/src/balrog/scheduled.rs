//! Scheduled changes: a change to a rule, a release, a permission, an emergency shutoff or a
//! required signoff, written down now and enacted later — when its time comes (`when`) and its
//! required signoffs are given. This module holds the pure parts: which tables take them, the
//! change type, the condition, and the JSON shape Balrog's admin API shows (docs/balrog.md).

use std::fmt;

use serde_json::{json, Map, Value};

use crate::error::{DomainError, DomainResult};

/// The tables a change can be scheduled for, by the path segment of
/// `/api/scheduled_changes/{table}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScTable {
    /// Rules (`/api/scheduled_changes/rules`).
    Rules,
    /// Named releases: name, product, blob (`data`), read-only flag.
    Releases,
    /// A user's permission: its options.
    Permissions,
    /// Emergency shutoffs: putting one in place, or lifting it.
    EmergencyShutoff,
    /// Rows of `/required_signoffs/product`.
    RequiredSignoffsProduct,
    /// Rows of `/required_signoffs/permissions`.
    RequiredSignoffsPermissions,
}

impl ScTable {
    /// Every table shiplog schedules changes for.
    pub const ALL: [ScTable; 6] = [
        ScTable::Rules,
        ScTable::Releases,
        ScTable::Permissions,
        ScTable::EmergencyShutoff,
        ScTable::RequiredSignoffsProduct,
        ScTable::RequiredSignoffsPermissions,
    ];

    /// The path segment, also stored with each change.
    pub fn as_str(self) -> &'static str {
        match self {
            ScTable::Rules => "rules",
            ScTable::Releases => "releases",
            ScTable::Permissions => "permissions",
            ScTable::EmergencyShutoff => "emergency_shutoff",
            ScTable::RequiredSignoffsProduct => "required_signoffs/product",
            ScTable::RequiredSignoffsPermissions => "required_signoffs/permissions",
        }
    }

    /// Reads a path segment; `None` for a table without scheduled changes.
    pub fn parse(text: &str) -> Option<ScTable> {
        ScTable::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The change types this table takes: an emergency shutoff is only ever scheduled to be
    /// put in place or lifted.
    pub fn allows(self, change_type: ChangeType) -> bool {
        match self {
            ScTable::EmergencyShutoff => change_type != ChangeType::Update,
            _ => true,
        }
    }

    /// Whether a change can be put back to one of its earlier revisions (`POST
    /// …/{sc_id}/revisions`): every table Balrog offers it on, which is all but emergency
    /// shutoffs.
    pub fn takes_revert(self) -> bool {
        self != ScTable::EmergencyShutoff
    }

    /// Whether telemetry (uptake) conditions may stand instead of `when`: rules only.
    pub fn takes_telemetry(self) -> bool {
        self == ScTable::Rules
    }
}

impl fmt::Display for ScTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the change does to its target row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeType {
    /// Creates the target row.
    Insert,
    /// Changes the target row.
    Update,
    /// Deletes the target row.
    Delete,
}

impl ChangeType {
    /// Balrog's name of the change type.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Insert => "insert",
            ChangeType::Update => "update",
            ChangeType::Delete => "delete",
        }
    }

    /// Reads Balrog's name of a change type.
    pub fn parse(text: &str) -> DomainResult<ChangeType> {
        match text {
            "insert" => Ok(ChangeType::Insert),
            "update" => Ok(ChangeType::Update),
            "delete" => Ok(ChangeType::Delete),
            _ => Err(DomainError::field(
                "change_type",
                "must be one of insert, update, delete",
            )),
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An uptake condition: enact once this share of the product's channel runs the new version.
/// shiplog (like Balrog's agent) cannot measure uptake: such a change is stored and shown, and
/// enacted only by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// `telemetry_product`.
    pub product: String,
    /// `telemetry_channel`.
    pub channel: String,
    /// `telemetry_uptake`, in percent.
    pub uptake: i64,
}

/// When a scheduled change may be enacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// At or after this time, in milliseconds since the Unix epoch.
    When(i64),
    /// `telemetry_*` conditions.
    Telemetry(Telemetry),
}

impl Condition {
    /// Reads the condition fields of a request body: `when` (epoch ms, after `now`) or, where
    /// the table takes them, all three telemetry fields. Both at once is Balrog's "Invalid
    /// combination of conditions"; neither is refused too.
    /// The error is Balrog's text for the 400 answer.
    pub fn parse(table: ScTable, body: &Map<String, Value>, now: i64) -> Result<Condition, String> {
        let present = |key: &str| body.get(key).is_some_and(|v| !v.is_null());
        let telemetry_keys = ["telemetry_product", "telemetry_channel", "telemetry_uptake"];
        let any_telemetry = telemetry_keys.iter().any(|k| present(k));
        if present("when") && any_telemetry {
            return Err("Invalid combination of conditions".to_owned());
        }
        if any_telemetry {
            if !table.takes_telemetry() {
                return Err(format!(
                    "Telemetry conditions are not supported for {table}"
                ));
            }
            let text = |key: &'static str| -> Result<String, String> {
                match body.get(key) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    _ => Err(format!("'{key}' is required with telemetry conditions")),
                }
            };
            let uptake = integer(body.get("telemetry_uptake"))
                .filter(|n| *n >= 0)
                .ok_or_else(|| "'telemetry_uptake' must be an integer >= 0".to_owned())?;
            return Ok(Condition::Telemetry(Telemetry {
                product: text("telemetry_product")?,
                channel: text("telemetry_channel")?,
                uptake,
            }));
        }
        if !present("when") {
            return Err(if table.takes_telemetry() {
                "Either 'when' or all of 'telemetry_product', 'telemetry_channel' and \
                 'telemetry_uptake' are required"
            } else {
                "'when' is a required property"
            }
            .to_owned());
        }
        let when = integer(body.get("when"))
            .ok_or_else(|| "'when' must be an integer (epoch milliseconds)".to_owned())?;
        if when < now {
            return Err("Changes may not be scheduled in the past".to_owned());
        }
        Ok(Condition::When(when))
    }

    /// The `when`, if that is the condition.
    pub fn when(&self) -> Option<i64> {
        match self {
            Condition::When(at) => Some(*at),
            Condition::Telemetry(_) => None,
        }
    }

    /// The telemetry condition, if that is it.
    pub fn telemetry(&self) -> Option<&Telemetry> {
        match self {
            Condition::When(_) => None,
            Condition::Telemetry(t) => Some(t),
        }
    }
}

/// An integer given as a JSON number or as decimal text (form bodies send text).
fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// How a completed change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied at `at` (epoch ms) by `by`.
    Enacted {
        /// When, in epoch ms.
        at: i64,
        /// Who enacted it (a user, or the scheduler's name).
        by: String,
    },
    /// Could no longer apply; never retried.
    Failed {
        /// When, in epoch ms.
        at: i64,
        /// Why it could not apply.
        reason: String,
    },
}

/// One signoff: a user, signing as one of their roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signoff {
    /// Who signed.
    pub username: String,
    /// The role they signed as.
    pub role: String,
    /// When, in epoch ms.
    pub signed_at: i64,
}

/// A stored scheduled change.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledChange {
    /// The change's id, one sequence across tables.
    pub sc_id: i64,
    /// The table it changes.
    pub table: ScTable,
    /// Insert, update or delete.
    pub change_type: ChangeType,
    /// The target row's key (`None` for a rule insert).
    pub object_key: Option<String>,
    /// The base row: the target as it will be (for a delete, its key columns), as the
    /// table's Balrog JSON.
    pub base: Map<String, Value>,
    /// The target's data_version the change was made against (updates and deletes).
    pub data_version: Option<i64>,
    /// `when`, or telemetry conditions.
    pub condition: Condition,
    /// Who scheduled (or last edited) it.
    pub scheduled_by: String,
    /// When it was scheduled, in epoch ms.
    pub created_at: i64,
    /// Whether it is done with (enacted or failed).
    pub complete: bool,
    /// Counts the change's own edits (optimistic locking).
    pub sc_data_version: i64,
    /// How a completed change ended.
    pub outcome: Option<Outcome>,
    /// Who signed it off so far.
    pub signoffs: Vec<Signoff>,
}

impl ScheduledChange {
    /// Balrog's JSON shape of a listed change: the base columns, `data_version`, `sc_id`,
    /// `scheduled_by`, `complete`, `change_type`, `sc_data_version`, `when` and the telemetry
    /// fields, `signoffs` (`{user: role}`) and `required_signoffs` (`{role: count}`, given),
    /// plus shiplog's `created_at` and how a completed change ended (`enacted_at`/`enacted_by`,
    /// or `failed_at`/`failure`).
    pub fn to_json(&self, required_signoffs: &Map<String, Value>) -> Value {
        let mut out = self.base.clone();
        out.insert("data_version".into(), json!(self.data_version));
        out.insert("sc_id".into(), json!(self.sc_id));
        out.insert("scheduled_by".into(), json!(self.scheduled_by));
        out.insert("complete".into(), json!(self.complete));
        out.insert("change_type".into(), json!(self.change_type.as_str()));
        out.insert("sc_data_version".into(), json!(self.sc_data_version));
        out.insert("when".into(), json!(self.condition.when()));
        if self.table.takes_telemetry() {
            let t = self.condition.telemetry();
            out.insert("telemetry_product".into(), json!(t.map(|t| &t.product)));
            out.insert("telemetry_channel".into(), json!(t.map(|t| &t.channel)));
            out.insert("telemetry_uptake".into(), json!(t.map(|t| t.uptake)));
        }
        let signoffs: Map<String, Value> = self
            .signoffs
            .iter()
            .map(|s| (s.username.clone(), json!(s.role)))
            .collect();
        out.insert("signoffs".into(), Value::Object(signoffs));
        out.insert(
            "required_signoffs".into(),
            Value::Object(required_signoffs.clone()),
        );
        out.insert("created_at".into(), json!(self.created_at));
        let (enacted_at, enacted_by, failed_at, failure) = match &self.outcome {
            Some(Outcome::Enacted { at, by }) => (json!(at), json!(by), json!(null), json!(null)),
            Some(Outcome::Failed { at, reason }) => {
                (json!(null), json!(null), json!(at), json!(reason))
            }
            None => (json!(null), json!(null), json!(null), json!(null)),
        };
        out.insert("enacted_at".into(), enacted_at);
        out.insert("enacted_by".into(), enacted_by);
        out.insert("failed_at".into(), failed_at);
        out.insert("failure".into(), failure);
        Value::Object(out)
    }

    /// The JSON of the change's own history records (its revisions).
    pub fn history_row(&self) -> Value {
        self.to_json(&Map::new())
    }

    /// The `when` at or before which the scheduler may enact it (`None`: only by hand).
    pub fn due_at(&self) -> Option<i64> {
        self.condition.when()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn a_condition_is_when_or_telemetry_never_both() {
        let now = 1_000;
        assert_eq!(
            Condition::parse(ScTable::Rules, &body(json!({"when": 2000})), now),
            Ok(Condition::When(2000))
        );
        let err = Condition::parse(ScTable::Rules, &body(json!({"when": 500})), now);
        assert!(err.is_err(), "in the past");
        let both = json!({"when": 2000, "telemetry_product": "Firefox",
                          "telemetry_channel": "release", "telemetry_uptake": 5});
        let err = Condition::parse(ScTable::Rules, &body(both), now).expect_err("both");
        assert_eq!(err, "Invalid combination of conditions");
        let telemetry = json!({"telemetry_product": "Firefox",
                               "telemetry_channel": "release", "telemetry_uptake": "5"});
        assert_eq!(
            Condition::parse(ScTable::Rules, &body(telemetry.clone()), now),
            Ok(Condition::Telemetry(Telemetry {
                product: "Firefox".into(),
                channel: "release".into(),
                uptake: 5
            }))
        );
        assert!(Condition::parse(ScTable::EmergencyShutoff, &body(telemetry), now).is_err());
        assert!(Condition::parse(ScTable::Rules, &body(json!({})), now).is_err());
    }

    #[test]
    fn shutoffs_are_only_put_in_place_or_lifted() {
        assert!(ScTable::EmergencyShutoff.allows(ChangeType::Insert));
        assert!(ScTable::EmergencyShutoff.allows(ChangeType::Delete));
        assert!(!ScTable::EmergencyShutoff.allows(ChangeType::Update));
        assert_eq!(ScTable::parse("rules"), Some(ScTable::Rules));
        assert_eq!(ScTable::parse("users"), None);
        assert_eq!(ScTable::parse("releases"), Some(ScTable::Releases));
        assert_eq!(ScTable::parse("permissions"), Some(ScTable::Permissions));
        assert!(ScTable::Releases.allows(ChangeType::Update));
        assert!(ScTable::Permissions.takes_revert());
        assert!(!ScTable::EmergencyShutoff.takes_revert());
    }
}
