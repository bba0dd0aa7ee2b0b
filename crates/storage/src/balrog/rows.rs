//! Row shapes of the Balrog tables and their conversion to domain types.

use diesel::prelude::*;
use serde_json::Value;
use shiplog_domain::balrog::{Change, ChangeTable, NamedRelease, Rule, RuleFields, UpdateType};
use time::PrimitiveDateTime;

use crate::error::{StorageError, StorageResult};
use crate::schema::{changes, releases, rules};

#[derive(Queryable, Selectable)]
#[diesel(table_name = rules)]
pub(crate) struct RuleRow {
    pub rule_id: i64,
    pub alias: Option<String>,
    pub priority: i64,
    pub mapping: Option<String>,
    pub fallback_mapping: Option<String>,
    pub background_rate: i64,
    pub update_type: String,
    pub product: Option<String>,
    pub version: Option<String>,
    pub channel: Option<String>,
    pub build_target: Option<String>,
    pub build_id: Option<String>,
    pub locale: Option<String>,
    pub os_version: Option<String>,
    pub memory: Option<String>,
    pub instruction_set: Option<String>,
    pub distribution: Option<String>,
    pub dist_version: Option<String>,
    pub header_architecture: Option<String>,
    pub mig64: Option<bool>,
    pub jaws: Option<bool>,
    pub whitelist: Option<String>,
    pub comment: Option<String>,
    pub data_version: i64,
    pub sticky_by: Option<String>,
}

impl RuleRow {
    pub fn into_domain(self) -> StorageResult<Rule> {
        let update_type = UpdateType::parse(&self.update_type).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "rule {} has update_type {:?}",
                self.rule_id, self.update_type
            ))
        })?;
        Ok(Rule {
            rule_id: self.rule_id,
            data_version: self.data_version,
            fields: RuleFields {
                alias: self.alias,
                priority: self.priority,
                mapping: self.mapping,
                fallback_mapping: self.fallback_mapping,
                background_rate: self.background_rate,
                update_type,
                product: self.product,
                version: self.version,
                channel: self.channel,
                build_target: self.build_target,
                build_id: self.build_id,
                locale: self.locale,
                os_version: self.os_version,
                memory: self.memory,
                instruction_set: self.instruction_set,
                distribution: self.distribution,
                dist_version: self.dist_version,
                header_architecture: self.header_architecture,
                mig64: self.mig64,
                jaws: self.jaws,
                whitelist: self.whitelist,
                comment: self.comment,
                sticky_by: self.sticky_by,
            },
        })
    }
}

/// Every column of a rule but its id: inserted as is, or set whole on update (nulls included).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = rules, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct RuleValues<'a> {
    pub alias: Option<&'a str>,
    pub priority: i64,
    pub mapping: Option<&'a str>,
    pub fallback_mapping: Option<&'a str>,
    pub background_rate: i64,
    pub update_type: &'static str,
    pub product: Option<&'a str>,
    pub version: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub build_target: Option<&'a str>,
    pub build_id: Option<&'a str>,
    pub locale: Option<&'a str>,
    pub os_version: Option<&'a str>,
    pub memory: Option<&'a str>,
    pub instruction_set: Option<&'a str>,
    pub distribution: Option<&'a str>,
    pub dist_version: Option<&'a str>,
    pub header_architecture: Option<&'a str>,
    pub mig64: Option<bool>,
    pub jaws: Option<bool>,
    pub whitelist: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub data_version: i64,
    pub sticky_by: Option<&'a str>,
}

impl<'a> RuleValues<'a> {
    pub fn new(fields: &'a RuleFields, data_version: i64) -> Self {
        RuleValues {
            alias: fields.alias.as_deref(),
            priority: fields.priority,
            mapping: fields.mapping.as_deref(),
            fallback_mapping: fields.fallback_mapping.as_deref(),
            background_rate: fields.background_rate,
            update_type: fields.update_type.as_str(),
            product: fields.product.as_deref(),
            version: fields.version.as_deref(),
            channel: fields.channel.as_deref(),
            build_target: fields.build_target.as_deref(),
            build_id: fields.build_id.as_deref(),
            locale: fields.locale.as_deref(),
            os_version: fields.os_version.as_deref(),
            memory: fields.memory.as_deref(),
            instruction_set: fields.instruction_set.as_deref(),
            distribution: fields.distribution.as_deref(),
            dist_version: fields.dist_version.as_deref(),
            header_architecture: fields.header_architecture.as_deref(),
            mig64: fields.mig64,
            jaws: fields.jaws,
            whitelist: fields.whitelist.as_deref(),
            comment: fields.comment.as_deref(),
            data_version,
            sticky_by: fields.sticky_by.as_deref(),
        }
    }
}

/// The Balrog columns of a release row (ledger columns stay with the ledger module).
#[derive(Queryable, Selectable)]
#[diesel(table_name = releases)]
pub(crate) struct NamedReleaseRow {
    pub id: String,
    pub name: Option<String>,
    pub product: Option<String>,
    pub data: Option<String>,
    pub read_only: bool,
    pub data_version: Option<i64>,
}

impl NamedReleaseRow {
    pub fn into_domain(self) -> StorageResult<NamedRelease> {
        let corrupt = |what: &str| StorageError::Corrupt(format!("release {} {what}", self.id));
        let (Some(name), Some(product), Some(data), Some(data_version)) =
            (&self.name, &self.product, &self.data, self.data_version)
        else {
            return Err(corrupt("is named but lacks its Balrog columns"));
        };
        let data: Value =
            serde_json::from_str(data).map_err(|_| corrupt("has a blob that is not JSON"))?;
        Ok(NamedRelease {
            id: self
                .id
                .parse()
                .map_err(|_| corrupt("has an id that is not a UUID"))?,
            name: name.clone(),
            product: product.clone(),
            data,
            read_only: self.read_only,
            data_version,
        })
    }
}

/// A release created through the Balrog face: the acting user started it now, with no
/// platforms or packages yet.
#[derive(Insertable)]
#[diesel(table_name = releases, treat_none_as_default_value = false)]
pub(crate) struct NewNamedReleaseRow<'a> {
    pub id: String,
    pub user_name: &'a str,
    pub recorded_by: &'a str,
    pub stime: PrimitiveDateTime,
    pub name: &'a str,
    pub product: &'a str,
    pub data: String,
    pub read_only: bool,
    pub data_version: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = changes)]
pub(crate) struct ChangeRow {
    pub change_id: i64,
    pub table_name: String,
    pub object_key: String,
    pub changed_by: String,
    pub changed_at: i64,
    pub data_version: Option<i64>,
    pub row_data: Option<String>,
}

impl ChangeRow {
    pub fn into_domain(self) -> StorageResult<Change> {
        let table = ChangeTable::parse(&self.table_name).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "change {} names table {:?}",
                self.change_id, self.table_name
            ))
        })?;
        let row = self
            .row_data
            .as_deref()
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|_| {
                StorageError::Corrupt(format!(
                    "change {} holds a row that is not JSON",
                    self.change_id
                ))
            })?;
        Ok(Change {
            change_id: self.change_id,
            table,
            object_key: self.object_key,
            changed_by: self.changed_by,
            timestamp: self.changed_at,
            data_version: self.data_version,
            row,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = changes, treat_none_as_default_value = false)]
pub(crate) struct NewChangeRow<'a> {
    pub table_name: &'static str,
    pub object_key: &'a str,
    pub changed_by: &'a str,
    pub changed_at: i64,
    pub data_version: Option<i64>,
    pub row_data: Option<String>,
    pub product: Option<&'a str>,
    pub channel: Option<&'a str>,
}
