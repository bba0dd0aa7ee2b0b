//! What rule evaluation reads: emergency shutoffs (with their writes and history), the rule-set
//! counter, and one consistent snapshot of rules, shutoffs, named releases and pins to compile.
//!
//! The counter (`ruleset_version`, one row) is bumped by every history record, so in the same
//! transaction as every write to rules, named releases and shutoffs. A serving instance compares
//! it with the version its compiled rule set was built from: one primary-key read tells it
//! whether any instance on the same database changed anything.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use shiplog_domain::balrog::{ChangeTable, EmergencyShutoff, NamedRelease, PinnableRelease, Rule};

use super::history::{record_delete, record_insert};
use super::now_millis;
use super::pins::load_pins;
use super::refusal::BalrogRefusal;
use super::rows::{NamedReleaseRow, RuleRow};
use super::signoffs::SignoffTarget;
use super::writer::Writer;
use crate::connection::{AnyConnection, Store};
use crate::error::{StorageError, StorageResult};
use crate::schema::{emergency_shutoffs, releases, rules, ruleset_version};

/// Everything a rule set is compiled from, read in one snapshot, with the counter it matches.
#[derive(Debug, Clone)]
pub struct EvaluationSnapshot {
    pub version: i64,
    pub rules: Vec<Rule>,
    pub shutoffs: Vec<EmergencyShutoff>,
    pub releases: Vec<NamedRelease>,
    /// Pinnable releases (`?pin=`).
    pub pins: Vec<PinnableRelease>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = emergency_shutoffs)]
struct ShutoffRow {
    product: String,
    channel: String,
    comment: Option<String>,
    data_version: i64,
}

impl From<ShutoffRow> for EmergencyShutoff {
    fn from(row: ShutoffRow) -> Self {
        EmergencyShutoff {
            product: row.product,
            channel: row.channel,
            comment: row.comment,
            data_version: row.data_version,
        }
    }
}

fn read_version(conn: &mut AnyConnection) -> StorageResult<i64> {
    Ok(ruleset_version::table
        .find(1)
        .select(ruleset_version::version)
        .first(conn)?)
}

fn load_shutoffs(conn: &mut AnyConnection) -> StorageResult<Vec<EmergencyShutoff>> {
    let rows: Vec<ShutoffRow> = emergency_shutoffs::table
        .select(ShutoffRow::as_select())
        .order_by((emergency_shutoffs::product, emergency_shutoffs::channel))
        .load(conn)?;
    Ok(rows.into_iter().map(EmergencyShutoff::from).collect())
}

pub(crate) fn find_shutoff(
    conn: &mut AnyConnection,
    product: &str,
    channel: &str,
) -> StorageResult<Option<EmergencyShutoff>> {
    Ok(emergency_shutoffs::table
        .find((product, channel))
        .select(ShutoffRow::as_select())
        .first(conn)
        .optional()?
        .map(EmergencyShutoff::from))
}

impl Store {
    /// The rule-set counter: changes whenever rules, named releases or shutoffs do.
    pub fn ruleset_version(&self) -> StorageResult<i64> {
        self.read(read_version)
    }

    /// Rules, shutoffs and every named release, as one snapshot, with the counter it matches.
    pub fn load_evaluation_snapshot(&self) -> StorageResult<EvaluationSnapshot> {
        self.read_snapshot(|conn| {
            // The counter first: whatever is read after it is at least that new.
            let version = read_version(conn)?;
            let rules = rules::table
                .select(RuleRow::as_select())
                .load::<RuleRow>(conn)?
                .into_iter()
                .map(RuleRow::into_domain)
                .collect::<StorageResult<Vec<_>>>()?;
            let shutoffs = load_shutoffs(conn)?;
            let releases = releases::table
                .filter(releases::name.is_not_null())
                .select(NamedReleaseRow::as_select())
                .load::<NamedReleaseRow>(conn)?
                .into_iter()
                .map(NamedReleaseRow::into_domain)
                .collect::<StorageResult<Vec<_>>>()?;
            let pins = load_pins(conn)?;
            Ok(EvaluationSnapshot {
                version,
                rules,
                shutoffs,
                releases,
                pins,
            })
        })
    }

    /// Every shutoff, by product then channel.
    pub fn list_emergency_shutoffs(&self) -> StorageResult<Vec<EmergencyShutoff>> {
        self.read(load_shutoffs)
    }

    pub fn find_emergency_shutoff(
        &self,
        product: &str,
        channel: &str,
    ) -> StorageResult<Option<EmergencyShutoff>> {
        self.read(|conn| find_shutoff(conn, product, channel))
    }

    /// Puts a shutoff in place (data_version 1), with its history records.
    pub fn insert_emergency_shutoff(
        &self,
        shutoff: &EmergencyShutoff,
        changed_by: &str,
    ) -> StorageResult<EmergencyShutoff> {
        self.write(|conn| insert_shutoff(conn, shutoff, changed_by, now_millis()))
    }

    /// Lifts a shutoff if it is still at `data_version`.
    pub fn delete_emergency_shutoff<'w>(
        &self,
        product: &str,
        channel: &str,
        data_version: i64,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<()> {
        let writer = writer.into();
        self.write(|conn| {
            super::scheduled::refuse_if_pending(
                conn,
                shiplog_domain::balrog::ScTable::EmergencyShutoff,
                &format!("{product}/{channel}"),
            )?;
            delete_shutoff(conn, product, channel, data_version, writer, now_millis())
        })
    }
}

/// Puts a shutoff in place (data_version 1), with its history records, inside the caller's
/// transaction.
pub(crate) fn insert_shutoff(
    conn: &mut AnyConnection,
    shutoff: &EmergencyShutoff,
    changed_by: &str,
    at: i64,
) -> StorageResult<EmergencyShutoff> {
    let exists = || -> StorageError {
        BalrogRefusal::ShutoffExists {
            product: shutoff.product.clone(),
            channel: shutoff.channel.clone(),
        }
        .into()
    };
    if find_shutoff(conn, &shutoff.product, &shutoff.channel)?.is_some() {
        return Err(exists());
    }
    let stored = EmergencyShutoff {
        data_version: 1,
        ..shutoff.clone()
    };
    diesel::insert_into(emergency_shutoffs::table)
        .values(ShutoffRow {
            product: stored.product.clone(),
            channel: stored.channel.clone(),
            comment: stored.comment.clone(),
            data_version: 1,
        })
        .execute(conn)
        .map_err(|e| match e {
            // A concurrent writer got there between the check and the insert.
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => exists(),
            other => other.into(),
        })?;
    record_insert(
        conn,
        ChangeTable::EmergencyShutoffs,
        &stored.key(),
        changed_by,
        at,
        1,
        &stored.to_json(),
    )?;
    Ok(stored)
}

/// Lifts a shutoff if it is still at `data_version` and the writer carries the signoffs it
/// needs, inside the caller's transaction.
pub(crate) fn delete_shutoff(
    conn: &mut AnyConnection,
    product: &str,
    channel: &str,
    data_version: i64,
    writer: Writer<'_>,
    at: i64,
) -> StorageResult<()> {
    let changed_by = writer.name;
    let Some(current) = find_shutoff(conn, product, channel)? else {
        return Err(BalrogRefusal::ShutoffNotFound {
            product: product.to_owned(),
            channel: channel.to_owned(),
        }
        .into());
    };
    // Creating a shutoff is always direct; lifting one re-opens updates.
    writer.check_signoffs(conn, &SignoffTarget::ShutoffDelete { product, channel })?;
    let deleted = diesel::delete(
        emergency_shutoffs::table
            .filter(emergency_shutoffs::product.eq(product))
            .filter(emergency_shutoffs::channel.eq(channel))
            .filter(emergency_shutoffs::data_version.eq(data_version)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(BalrogRefusal::Outdated.into());
    }
    record_delete(
        conn,
        ChangeTable::EmergencyShutoffs,
        &current.key(),
        changed_by,
        at,
        &current.to_json(),
    )
}
