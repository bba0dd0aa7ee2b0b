//! Pinnable releases (`pinnable_releases`): which release clients pinned at a version are
//! served, per product and channel, with their history.
//!
//! Setting a pin is Balrog's `set_pinnable`: the release must exist; an existing pin is not
//! moved to a release older than the one it holds (`existing_pin_is_newer`: a `102.` pin that
//! holds 102.1.0 is not set back to a 102.0.3 built later); otherwise the row is inserted or
//! updated at its data_version, with its history record (which also bumps the rule-set counter,
//! so every serving instance picks the pin up) and its event, in one transaction.

use diesel::prelude::*;
use serde_json::{json, Value};
use shiplog_domain::balrog::pin::{blob_app_version, pin_key};
use shiplog_domain::balrog::{ChangeTable, NamedRelease, PinVersion, PinnableRelease};

use super::history::{record_insert, record_update};
use super::named_releases::is_foreign_key_violation;
use super::now_millis;
use super::refusal::BalrogRefusal;
use super::rows::NamedReleaseRow;
use super::writer::{Subject, Writer};
use crate::connection::{AnyConnection, Store};
use crate::error::StorageResult;
use crate::schema::{pinnable_releases, releases};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pinnable_releases)]
struct PinRow {
    product: String,
    channel: String,
    version: String,
    mapping: String,
    data_version: i64,
}

impl From<PinRow> for PinnableRelease {
    fn from(row: PinRow) -> Self {
        PinnableRelease {
            product: row.product,
            channel: row.channel,
            version: row.version,
            mapping: row.mapping,
            data_version: row.data_version,
        }
    }
}

/// What setting a pin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The pin now maps to the release, at this data_version.
    Set(i64),
    /// The pin holds a newer release than the one given, and was left as it was.
    ExistingPinIsNewer,
}

/// The pin as its history records it.
fn history_row(pin: &PinnableRelease) -> Value {
    json!({
        "product": pin.product,
        "channel": pin.channel,
        "version": pin.version,
        "mapping": pin.mapping,
        "data_version": pin.data_version,
    })
}

fn find(
    conn: &mut AnyConnection,
    product: &str,
    channel: &str,
    version: &str,
) -> StorageResult<Option<PinnableRelease>> {
    Ok(pinnable_releases::table
        .find((product, channel, version))
        .select(PinRow::as_select())
        .first(conn)
        .optional()?
        .map(PinnableRelease::from))
}

fn load_release(conn: &mut AnyConnection, name: &str) -> StorageResult<Option<NamedRelease>> {
    releases::table
        .filter(releases::name.eq(name))
        .select(NamedReleaseRow::as_select())
        .first(conn)
        .optional()?
        .map(NamedReleaseRow::into_domain)
        .transpose()
}

/// Every pin, for the rule set's snapshot.
pub(crate) fn load_pins(conn: &mut AnyConnection) -> StorageResult<Vec<PinnableRelease>> {
    let rows: Vec<PinRow> = pinnable_releases::table
        .select(PinRow::as_select())
        .order_by((
            pinnable_releases::product,
            pinnable_releases::channel,
            pinnable_releases::version,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(PinnableRelease::from).collect())
}

/// The pins that map to `name`, as `product/channel/version` keys: a release a pin serves
/// cannot be deleted.
pub(crate) fn pins_of_release(conn: &mut AnyConnection, name: &str) -> StorageResult<Vec<String>> {
    let rows: Vec<PinRow> = pinnable_releases::table
        .filter(pinnable_releases::mapping.eq(name))
        .select(PinRow::as_select())
        .order_by((
            pinnable_releases::product,
            pinnable_releases::channel,
            pinnable_releases::version,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| pin_key(&r.product, &r.channel, &r.version))
        .collect())
}

impl Store {
    /// The pin `version` of `product` on `channel` (the channel as given: lookups by clients
    /// use the base channel, this is the admin view of one row).
    pub fn find_pin(
        &self,
        product: &str,
        channel: &str,
        version: &str,
    ) -> StorageResult<Option<PinnableRelease>> {
        self.read(|conn| find(conn, product, channel, version))
    }

    /// Every pin, by product, channel and version.
    pub fn list_pins(&self) -> StorageResult<Vec<PinnableRelease>> {
        self.read(load_pins)
    }

    /// Makes release `name` the one clients of `product` on `channel` pinned at `version` are
    /// served, unless the pin holds a newer release already. The writer's guard sees
    /// [`Subject::Pin`] (whether the pin exists says create or modify).
    pub fn set_pin<'w>(
        &self,
        name: &str,
        product: &str,
        channel: &str,
        version: &PinVersion,
        writer: impl Into<Writer<'w>>,
    ) -> StorageResult<PinOutcome> {
        let at = now_millis();
        let writer = writer.into();
        let version = version.to_string();
        let result = self.write_creating(|conn| {
            let release = load_release(conn, name)?
                .ok_or_else(|| BalrogRefusal::ReleaseNotFound(name.to_owned()))?;
            let old = find(conn, product, channel, &version)?;
            writer.check(Subject::Pin {
                product,
                exists: old.is_some(),
            })?;
            let key = pin_key(product, channel, &version);
            let Some(old) = old else {
                let pin = PinnableRelease {
                    product: product.to_owned(),
                    channel: channel.to_owned(),
                    version: version.clone(),
                    mapping: name.to_owned(),
                    data_version: 1,
                };
                diesel::insert_into(pinnable_releases::table)
                    .values(PinRow {
                        product: pin.product.clone(),
                        channel: pin.channel.clone(),
                        version: pin.version.clone(),
                        mapping: pin.mapping.clone(),
                        data_version: 1,
                    })
                    .execute(conn)?;
                record_insert(
                    conn,
                    ChangeTable::PinnableReleases,
                    &key,
                    writer.name,
                    at,
                    1,
                    &history_row(&pin),
                )?;
                return Ok(PinOutcome::Set(1));
            };
            if let Some(current) = load_release(conn, &old.mapping)? {
                let held = blob_app_version(&current.data);
                let given = blob_app_version(&release.data);
                if let (Some(held), Some(given)) = (held, given) {
                    if held > given {
                        return Ok(PinOutcome::ExistingPinIsNewer);
                    }
                }
            }
            let next = PinnableRelease {
                mapping: name.to_owned(),
                data_version: old.data_version + 1,
                ..old.clone()
            };
            let updated = diesel::update(
                pinnable_releases::table
                    .find((product, channel, version.as_str()))
                    .filter(pinnable_releases::data_version.eq(old.data_version)),
            )
            .set((
                pinnable_releases::mapping.eq(name),
                pinnable_releases::data_version.eq(next.data_version),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(BalrogRefusal::Outdated.into());
            }
            record_update(
                conn,
                ChangeTable::PinnableReleases,
                &key,
                writer.name,
                at,
                next.data_version,
                &history_row(&next),
            )?;
            Ok(PinOutcome::Set(next.data_version))
        });
        match result {
            // The release was deleted between this write's read and its INSERT or UPDATE.
            Err(err) if is_foreign_key_violation(&err) => {
                Err(BalrogRefusal::ReleaseNotFound(name.to_owned()).into())
            }
            other => other,
        }
    }
}
