//! Multi-row INSERTs of a fixed number of rows, which diesel keeps prepared on SQLite.
//!
//! diesel keeps a statement prepared when its type says what its text is. Its own multi-row
//! INSERT does so only for an array of rows that borrow nothing (`'static`); the ledger's rows
//! borrow from the releases they come from, so every multi-row INSERT of an import was parsed
//! afresh (8 % of its CPU on SQLite, the length of each one depending on the batch). A
//! [`FixedInsert`] of `N` rows of one [`InsertRow`] type always has the same text, and its type
//! names the row type and `N`, so the statement is prepared once per connection.
//!
//! The rows' columns are listed here once more, beside their `Insertable` derives in `rows`; a
//! test checks that each list reads as diesel's does.

use std::marker::PhantomData;

use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::{Connection, QueryResult, SqliteConnection};

use super::rows::{MetadataRow, NewPackageRow, NewReleaseRow, NoteRow, PlatformRow};

/// Rows per multi-row INSERT: few statements for an import's thousands of rows.
const CHUNK: usize = 256;
/// Rows per multi-row INSERT for what [`CHUNK`]s leave over. With only one length, up to 255
/// rows would go in one at a time, each a statement of its own that opens a cursor on every
/// index of its table: an import with chunks of 64 and single rows for the rest took 317 M
/// instructions, with these two lengths 311 M (callgrind, 2026-12-07).
const SMALL_CHUNK: usize = 16;

/// Inserts as many of `rows` as chunks of [`CHUNK`] and then [`SMALL_CHUNK`] rows take, and
/// returns the rest (fewer than [`SMALL_CHUNK`]) for the caller to insert one at a time.
pub(super) fn insert_in_chunks<'r, R: InsertRow>(
    conn: &mut SqliteConnection,
    rows: &'r [R],
) -> QueryResult<&'r [R]> {
    let rest = insert_chunks_of::<R, CHUNK>(conn, rows)?;
    insert_chunks_of::<R, SMALL_CHUNK>(conn, rest)
}

fn insert_chunks_of<'r, R: InsertRow, const N: usize>(
    conn: &mut SqliteConnection,
    rows: &'r [R],
) -> QueryResult<&'r [R]> {
    let (chunks, rest) = rows.as_chunks::<N>();
    for chunk in chunks {
        conn.execute_returning_count(&FixedInsert(chunk))?;
    }
    Ok(rest)
}

/// A row type that a [`FixedInsert`] writes.
pub(super) trait InsertRow {
    /// `table (column, …)`: where the row goes, its columns in the order [`InsertRow::bind`]
    /// binds them.
    const INTO: &'static str;
    /// A `'static` type standing for the row type in a statement's cache key.
    type Key: 'static;
    /// Binds the row's values, one per column of [`InsertRow::INTO`], in order.
    fn bind<'b>(&'b self, out: &mut AstPass<'_, 'b, Sqlite>) -> QueryResult<()>;
}

/// `INSERT INTO … VALUES (…), (…), …` of exactly `N` rows.
pub(super) struct FixedInsert<'r, R, const N: usize>(pub &'r [R; N]);

/// The statement-cache key of a [`FixedInsert`] of `N` rows of the row type `K` stands for.
pub(super) struct FixedInsertKey<K, const N: usize>(PhantomData<K>);

impl<R: InsertRow, const N: usize> QueryId for FixedInsert<'_, R, N> {
    type QueryId = FixedInsertKey<R::Key, N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<R: InsertRow, const N: usize> QueryFragment<Sqlite> for FixedInsert<'_, R, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_sql(R::INTO);
        out.push_sql(" VALUES ");
        for (i, row) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            row.bind(&mut out)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// Implements [`InsertRow`] for `$row`, whose rows go `$into` (the table, then the columns in
/// the order of the fields listed), each field bound as its SQL type.
macro_rules! insert_row {
    ($row:ident, $table:ident, $into:literal, [$($ty:ty => $field:ident),+ $(,)?]) => {
        impl InsertRow for $row<'_> {
            const INTO: &'static str = $into;
            type Key = crate::schema::$table::table;

            fn bind<'b>(&'b self, out: &mut AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                let mut first = true;
                $(
                    if !first {
                        out.push_sql(", ");
                    }
                    first = false;
                    out.push_bind_param::<$ty, _>(&self.$field)?;
                )+
                let _ = first;
                Ok(())
            }
        }
    };
}

insert_row!(
    NewReleaseRow,
    releases,
    "releases (id, user_name, team, refs, stime, ftime, duration_secs, status, has_rollback, \
     recorded_by, callback, revision)",
    [
        Text => id,
        Text => user_name,
        Nullable<Text> => team,
        Text => refs,
        Timestamp => stime,
        Nullable<Timestamp> => ftime,
        Nullable<BigInt> => duration_secs,
        Nullable<Text> => status,
        Bool => has_rollback,
        Nullable<Text> => recorded_by,
        Nullable<Text> => callback,
        BigInt => revision,
    ]
);

insert_row!(
    PlatformRow,
    release_platforms,
    "release_platforms (release_id, platform, ordinal)",
    [Text => release_id, Text => platform, Integer => ordinal]
);

insert_row!(
    NoteRow,
    release_notes,
    "release_notes (id, release_id, created_at, ordinal, body)",
    [Text => id, Text => release_id, Timestamp => created_at, Integer => ordinal, Text => body]
);

insert_row!(
    MetadataRow,
    release_metadata,
    "release_metadata (release_id, \"key\", value)",
    [Text => release_id, Text => key, Text => value]
);

insert_row!(
    NewPackageRow,
    packages,
    "packages (id, release_id, created_at, ordinal, name, version, status, rollback, diff_url, \
     stime, ftime, duration_secs)",
    [
        Text => id,
        Text => release_id,
        Timestamp => created_at,
        Integer => ordinal,
        Text => name,
        Text => version,
        Text => status,
        Bool => rollback,
        Nullable<Text> => diff_url,
        Nullable<Timestamp> => stime,
        Nullable<Timestamp> => ftime,
        Nullable<BigInt> => duration_secs,
    ]
);

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;
    use time::OffsetDateTime;

    use super::FixedInsert;
    use crate::ledger::bulk::{tests::release, BatchRows};
    use crate::schema::{packages, release_metadata, release_notes, release_platforms, releases};

    /// The statement diesel writes for `$row` into `$table`, and the one a `FixedInsert` of that
    /// row alone writes, as `debug_query` shows them (the text, then the bound values), without
    /// quotes (diesel quotes every name, `FixedInsert` only `key`).
    macro_rules! both {
        ($row:expr, $table:expr) => {{
            let row = $row;
            let diesels =
                diesel::debug_query::<Sqlite, _>(&diesel::insert_into($table).values(row))
                    .to_string()
                    .replace(['`', '"'], "");
            let one: &[_; 1] = std::slice::from_ref(row).try_into().expect("one row");
            let ours = diesel::debug_query::<Sqlite, _>(&FixedInsert(one))
                .to_string()
                .replace('"', "");
            (diesels, ours)
        }};
    }

    /// Each row type's column list and binds read exactly as diesel's own INSERT of the row:
    /// the same columns in the same order, bound to the same values.
    #[test]
    fn every_row_type_writes_what_diesel_writes() {
        let mut new = release(7);
        new.packages[0].diff_url = Some("https://diff.example/7".to_owned());
        new.ftime = Some(new.stime + time::Duration::seconds(30));
        let batch = [new];
        let ids = vec![batch[0].id.to_string()];
        let rows = BatchRows::of(&batch, &ids, OffsetDateTime::now_utc()).expect("rows");
        let pairs = [
            both!(&rows.releases[0], releases::table),
            both!(&rows.platforms[0], release_platforms::table),
            both!(&rows.notes[0], release_notes::table),
            both!(&rows.metadata[0], release_metadata::table),
            both!(&rows.packages[0], packages::table),
        ];
        for (diesels, ours) in pairs {
            assert_eq!(ours, diesels);
        }
    }
}
