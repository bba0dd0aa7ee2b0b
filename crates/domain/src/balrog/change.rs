//! Change records: the history every write to a rule, a named release or a permission leaves
//! behind, written in the same transaction as the write (see docs/balrog.md).
//!
//! As in Balrog, an insert leaves two records (one with only the key and no data, a millisecond
//! before, then the full row), an update leaves the full new row, and a delete leaves a record
//! with only the key. Records without a row (and so without a `data_version`) are markers: the
//! revision listings leave them out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of objects with a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeTable {
    /// Rules, keyed by rule id.
    Rules,
    /// Named releases, keyed by name.
    Releases,
    /// Emergency shutoffs, keyed `product/channel`.
    #[serde(rename = "emergency_shutoffs")]
    EmergencyShutoffs,
    /// Users' permissions, keyed `user/permission`.
    Permissions,
    /// Scheduled changes, keyed `table/sc_id` (`rules/7`).
    #[serde(rename = "scheduled_changes")]
    ScheduledChanges,
    /// Users' roles (what they sign off with), keyed `user/role`.
    #[serde(rename = "user_roles")]
    Roles,
    /// Signoffs required for a product's channel, keyed `product/channel/role`.
    #[serde(rename = "required_signoffs_product")]
    RequiredSignoffsProduct,
    /// Signoffs required for a product's permissions, keyed `product/role`.
    #[serde(rename = "required_signoffs_permissions")]
    RequiredSignoffsPermissions,
    /// Pinnable releases, keyed `product/channel/version` (`Firefox/release/66.`).
    #[serde(rename = "pinnable_releases")]
    PinnableReleases,
}

impl ChangeTable {
    /// The name stored with each record.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeTable::Rules => "rules",
            ChangeTable::Releases => "releases",
            ChangeTable::EmergencyShutoffs => "emergency_shutoffs",
            ChangeTable::Permissions => "permissions",
            ChangeTable::ScheduledChanges => "scheduled_changes",
            ChangeTable::Roles => "user_roles",
            ChangeTable::RequiredSignoffsProduct => "required_signoffs_product",
            ChangeTable::RequiredSignoffsPermissions => "required_signoffs_permissions",
            ChangeTable::PinnableReleases => "pinnable_releases",
        }
    }

    /// Reads the table segment of `/history/{view|diff}/{table}/…` and the `table` filter of
    /// `/history`: Balrog's singular names (`rule`, `release`), the plural ones, and Balrog's
    /// own table names for roles and required signoffs.
    pub fn parse(text: &str) -> Option<ChangeTable> {
        match text {
            "rule" | "rules" => Some(ChangeTable::Rules),
            "release" | "releases" => Some(ChangeTable::Releases),
            "emergency_shutoff" | "emergency_shutoffs" => Some(ChangeTable::EmergencyShutoffs),
            "permission" | "permissions" => Some(ChangeTable::Permissions),
            "scheduled_change" | "scheduled_changes" => Some(ChangeTable::ScheduledChanges),
            "role" | "roles" | "user_roles" => Some(ChangeTable::Roles),
            "required_signoffs_product" | "product_req_signoffs" => {
                Some(ChangeTable::RequiredSignoffsProduct)
            }
            "required_signoffs_permissions" | "permissions_req_signoffs" => {
                Some(ChangeTable::RequiredSignoffsPermissions)
            }
            "pinnable_release" | "pinnable_releases" => Some(ChangeTable::PinnableReleases),
            _ => None,
        }
    }

    /// The fields a record of this table has, row columns and record metadata alike.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ChangeTable::Rules => &[
                "rule_id",
                "alias",
                "priority",
                "mapping",
                "fallbackMapping",
                "backgroundRate",
                "update_type",
                "product",
                "version",
                "channel",
                "buildTarget",
                "buildID",
                "locale",
                "osVersion",
                "memory",
                "instructionSet",
                "distribution",
                "distVersion",
                "headerArchitecture",
                "mig64",
                "jaws",
                "whitelist",
                "comment",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::Releases => &[
                "name",
                "product",
                "read_only",
                "data",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::EmergencyShutoffs => &[
                "product",
                "channel",
                "comment",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::Permissions => &[
                "username",
                "permission",
                "options",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::ScheduledChanges => &[
                "sc_id",
                "change_type",
                "scheduled_by",
                "complete",
                "when",
                "sc_data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::Roles => &[
                "username",
                "role",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::RequiredSignoffsProduct => &[
                "product",
                "channel",
                "role",
                "signoffs_required",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::RequiredSignoffsPermissions => &[
                "product",
                "role",
                "signoffs_required",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
            ChangeTable::PinnableReleases => &[
                "product",
                "channel",
                "version",
                "mapping",
                "data_version",
                "change_id",
                "changed_by",
                "timestamp",
            ],
        }
    }
}

/// One history record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The record's id: one sequence per table, in the order of the changes.
    pub change_id: i64,
    /// What kind of object changed.
    pub table: ChangeTable,
    /// The object's key: a rule id, or a release name.
    pub object_key: String,
    /// The user who made the change.
    pub changed_by: String,
    /// Milliseconds since the Unix epoch, as Balrog records them.
    pub timestamp: i64,
    /// `None` on the marker records of inserts and deletes.
    pub data_version: Option<i64>,
    /// The full row as it was after the change, in Balrog's JSON shape; `None` on markers.
    pub row: Option<Value>,
}

impl Change {
    /// One field of the record, as `/history/view` shows it: a row column (`Null` when the
    /// record has no row) or the record's own metadata. `None` for a field the table lacks.
    pub fn field(&self, field: &str) -> Option<Value> {
        if !self.table.fields().contains(&field) {
            return None;
        }
        Some(match field {
            "change_id" => Value::from(self.change_id),
            "changed_by" => Value::String(self.changed_by.clone()),
            "timestamp" => Value::from(self.timestamp),
            "data_version" => self.data_version.map(Value::from).unwrap_or(Value::Null),
            "rule_id" if self.table == ChangeTable::Rules => self
                .object_key
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Null),
            "name" if self.table == ChangeTable::Releases => Value::String(self.object_key.clone()),
            column => self
                .row
                .as_ref()
                .and_then(|row| row.get(column))
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    /// Whether this record holds a row (and not an insert or delete marker).
    pub fn has_row(&self) -> bool {
        self.row.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_come_from_the_row_or_the_record() {
        let change = Change {
            change_id: 5,
            table: ChangeTable::Rules,
            object_key: "3".into(),
            changed_by: "alice".into(),
            timestamp: 1_451_610_061_000,
            data_version: Some(2),
            row: Some(json!({"rule_id": 3, "priority": 90, "mapping": null})),
        };
        assert_eq!(change.field("priority"), Some(json!(90)));
        assert_eq!(change.field("mapping"), Some(Value::Null));
        assert_eq!(change.field("rule_id"), Some(json!(3)));
        assert_eq!(change.field("changed_by"), Some(json!("alice")));
        assert_eq!(change.field("data_version"), Some(json!(2)));
        assert_eq!(change.field("name"), None, "rules have no name");
        let marker = Change {
            row: None,
            data_version: None,
            ..change
        };
        assert_eq!(marker.field("priority"), Some(Value::Null));
        assert!(!marker.has_row());
    }

    #[test]
    fn tables_take_singular_and_plural_names() {
        assert_eq!(ChangeTable::parse("rule"), Some(ChangeTable::Rules));
        assert_eq!(ChangeTable::parse("releases"), Some(ChangeTable::Releases));
        assert_eq!(
            ChangeTable::parse("emergency_shutoff"),
            Some(ChangeTable::EmergencyShutoffs)
        );
        assert_eq!(
            ChangeTable::parse("permission"),
            Some(ChangeTable::Permissions)
        );
        assert_eq!(ChangeTable::parse("users"), None);
        for table in [
            ChangeTable::Rules,
            ChangeTable::Releases,
            ChangeTable::EmergencyShutoffs,
            ChangeTable::Permissions,
            ChangeTable::Roles,
            ChangeTable::RequiredSignoffsProduct,
            ChangeTable::RequiredSignoffsPermissions,
        ] {
            assert_eq!(ChangeTable::parse(table.as_str()), Some(table));
            assert_eq!(
                serde_json::to_value(table).expect("serializes"),
                serde_json::json!(table.as_str())
            );
        }
    }
}
