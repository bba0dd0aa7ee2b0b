//! What a scheduled change needs signed off, and whether a user holds a role. (Before the
//! governance tables exist nothing requires signoffs; this is replaced by the adapter to
//! `required_signoffs_for` when they land.)

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use shiplog_domain::balrog::ScheduledChange;

use crate::connection::AnyConnection;
use crate::error::StorageResult;

/// Role → how many signoffs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Required(BTreeMap<String, i64>);

impl Required {
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(r, c)| (r.as_str(), *c))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn to_json(&self) -> Map<String, Value> {
        self.0.iter().map(|(r, c)| (r.clone(), Value::from(*c))).collect()
    }
}

pub(crate) fn required_signoffs(
    _conn: &mut AnyConnection,
    _change: &ScheduledChange,
) -> StorageResult<Required> {
    Ok(Required::default())
}

pub(crate) fn user_holds_role(
    _conn: &mut AnyConnection,
    _user: &str,
    _role: &str,
) -> StorageResult<bool> {
    Ok(false)
}
