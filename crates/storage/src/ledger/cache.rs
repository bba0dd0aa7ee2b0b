//! Releases kept whole in memory, by id and revision, so that reads of a release that has not
//! changed skip its related rows (platforms, notes, metadata, packages) and their assembly.
//!
//! A release's `revision` moves on in the same transaction as every change to it or to the
//! rows it holds (`change`), so a release read whole at revision N is the release at revision
//! N for as long as the row exists. A read asks the database for the ids and revisions it
//! selects and takes from here those whose revision matches; the rest it reads whole, each
//! with the revision its row has in that statement, and puts here under that revision (a
//! release not kept at all is read whole at once). Nothing is ever invalidated: a change makes
//! a new revision, and the old entry is never asked for again; the next read replaces it, or
//! it is evicted. That holds across processes too (several instances on one PostgreSQL),
//! because the revision comes from the database on every read.
//!
//! Entries are put only by reads, which see committed rows: a write's own view of a release
//! (in a SQLite group that may still roll back) never lands here. A release recorded anew
//! starts at a random revision (`first_revision`), so an id deleted and imported again cannot
//! meet the entry of its earlier life.
//!
//! On the bench's page of ten (`GET /releases?user=…&limit=10`, 25,000 releases, SQLite) the
//! related rows and their assembly were about half of a request's instructions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use shiplog_domain::{Release, ReleaseId};

/// The revision a release recorded now starts at: random, below 2^52 (so `revision + 1` never
/// overflows and the number stays exact in JSON and floating point), so that the same id
/// recorded again after a delete starts somewhere else.
pub(crate) fn first_revision() -> i64 {
    let bits = uuid::Uuid::new_v4().as_u128();
    i64::try_from(bits & ((1 << 52) - 1)).unwrap_or(0)
}

/// The releases the process keeps; shared by every clone of a `Store`.
#[derive(Clone)]
pub(crate) struct ReleaseCache {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    entries: Cache<ReleaseId, Entry, ByBytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    revision: i64,
    release: Arc<Release>,
    bytes: u32,
}

/// What the release cache holds and how often it answered, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseCacheFigures {
    /// Releases kept.
    pub releases: usize,
    /// Their estimated size in bytes.
    pub bytes: u64,
    /// Releases a read found kept at the revision it wanted.
    pub hits: u64,
    /// Releases a read had to read whole.
    pub misses: u64,
}

/// Weighs an entry by the bytes it holds (estimated once, when it is put).
#[derive(Clone)]
struct ByBytes;

impl Weighter<ReleaseId, Entry> for ByBytes {
    fn weight(&self, _: &ReleaseId, entry: &Entry) -> u64 {
        u64::from(entry.bytes)
    }
}

/// A rough size of a release in memory: its strings and its fixed parts.
fn size_of(release: &Release) -> u32 {
    let strings = |items: &[String]| items.iter().map(|s| s.len() + 24).sum::<usize>();
    let packages: usize = release
        .packages
        .iter()
        .map(|p| {
            std::mem::size_of_val(p)
                + p.name.len()
                + p.version.len()
                + p.diff_url.as_ref().map_or(0, String::len)
        })
        .sum();
    let metadata: usize = release
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len() + 64)
        .sum();
    let total = std::mem::size_of::<Release>()
        + release.user.len()
        + release.team.as_ref().map_or(0, String::len)
        + release.recorded_by.as_ref().map_or(0, String::len)
        + strings(&release.platforms)
        + strings(&release.references)
        + strings(&release.notes)
        + metadata
        + packages;
    u32::try_from(total).unwrap_or(u32::MAX)
}

impl ReleaseCache {
    /// A cache of about `bytes` bytes of releases; none at all when `bytes` is 0.
    pub(crate) fn new(bytes: u64) -> ReleaseCache {
        // quick_cache sizes its table from the expected count: a release of the bench is
        // about 1 KiB.
        let estimated = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
        ReleaseCache {
            inner: (bytes > 0).then(|| {
                Arc::new(Inner {
                    entries: Cache::with_weighter(estimated, bytes, ByBytes),
                    hits: AtomicU64::new(0),
                    misses: AtomicU64::new(0),
                })
            }),
        }
    }

    /// The release `id` at `revision`, if kept.
    pub(crate) fn get(&self, id: ReleaseId, revision: i64) -> Option<Release> {
        let inner = self.inner.as_ref()?;
        let found = inner
            .entries
            .get(&id)
            .filter(|entry| entry.revision == revision);
        let counter = if found.is_some() {
            &inner.hits
        } else {
            &inner.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|entry| Release::clone(&entry.release))
    }

    /// Whether some revision of release `id` is kept; one that is not counts as a miss (the
    /// caller reads it whole without asking [`ReleaseCache::get`]).
    pub(crate) fn holds(&self, id: ReleaseId) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let held = inner.entries.peek(&id).is_some();
        if !held {
            inner.misses.fetch_add(1, Ordering::Relaxed);
        }
        held
    }

    /// Keeps `release`, read whole at `revision`. A release larger than the whole cache is not
    /// kept.
    pub(crate) fn put(&self, revision: i64, release: &Release) {
        let Some(inner) = &self.inner else {
            return;
        };
        let bytes = size_of(release);
        if u64::from(bytes) > inner.entries.capacity() {
            return;
        }
        inner.entries.insert(
            release.id,
            Entry {
                revision,
                release: Arc::new(release.clone()),
                bytes,
            },
        );
    }

    /// What is kept and how often it answered.
    pub(crate) fn figures(&self) -> ReleaseCacheFigures {
        self.inner
            .as_ref()
            .map_or_else(ReleaseCacheFigures::default, |inner| ReleaseCacheFigures {
                releases: inner.entries.len(),
                bytes: inner.entries.weight(),
                hits: inner.hits.load(Ordering::Relaxed),
                misses: inner.misses.load(Ordering::Relaxed),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn release(notes: &[&str]) -> Release {
        Release {
            id: ReleaseId::new(),
            user: "ann".into(),
            team: None,
            platforms: vec!["site0".into()],
            references: Vec::new(),
            stime: OffsetDateTime::UNIX_EPOCH,
            ftime: None,
            duration: None,
            notes: notes.iter().map(|n| (*n).to_owned()).collect(),
            metadata: Default::default(),
            packages: Vec::new(),
            recorded_by: None,
        }
    }

    #[test]
    fn a_release_is_found_at_the_revision_it_was_read_at_only() {
        let cache = ReleaseCache::new(1 << 20);
        let read = release(&["first"]);
        cache.put(7, &read);
        assert_eq!(cache.get(read.id, 7), Some(read.clone()));
        assert_eq!(
            cache.get(read.id, 8),
            None,
            "a later revision is read again"
        );
        assert_eq!(cache.get(ReleaseId::new(), 7), None);
        assert!(cache.holds(read.id));
        let changed = Release {
            notes: vec!["first".into(), "second".into()],
            ..read.clone()
        };
        cache.put(8, &changed);
        assert_eq!(cache.get(read.id, 8), Some(changed));
        assert_eq!(
            cache.get(read.id, 7),
            None,
            "one entry per release: the newest put"
        );
    }

    #[test]
    fn a_cache_of_no_bytes_keeps_nothing() {
        let cache = ReleaseCache::new(0);
        let read = release(&[]);
        cache.put(1, &read);
        assert_eq!(cache.get(read.id, 1), None);
        assert_eq!(cache.figures(), ReleaseCacheFigures::default());
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let cache = ReleaseCache::new(64 * 1024);
        for _ in 0..1_000 {
            cache.put(1, &release(&["a note of some length, to weigh something"]));
        }
        let ReleaseCacheFigures {
            releases, bytes, ..
        } = cache.figures();
        assert!(releases > 10 && releases < 1_000, "{releases} kept");
        assert!(bytes <= 64 * 1024, "{bytes} bytes");
    }

    #[test]
    fn first_revisions_differ_and_leave_room_to_count_up() {
        let a = first_revision();
        let b = first_revision();
        assert_ne!(a, b);
        for revision in [a, b] {
            assert!((0..1 << 52).contains(&revision));
        }
    }

    /// What reads through the cache see, on both backends: every change, made through this
    /// store or another on the same database (another instance), at once; and a release
    /// deleted and recorded again under its id, as recorded again.
    mod through_the_store {
        use diesel::RunQueryDsl;
        use shiplog_domain::{NewPackage, NewRelease};
        use time::OffsetDateTime;

        use crate::query::{Page, ReleaseFilter};
        use crate::testing::TestDb;
        use crate::{PoolOptions, Store};

        fn uncached(db: &TestDb) -> Store {
            Store::connect(
                db.url(),
                &PoolOptions {
                    max_size: 2,
                    release_cache_bytes: 0,
                    ..PoolOptions::default()
                },
            )
            .expect("store")
        }

        fn new_release(user: &str, note: &str) -> NewRelease {
            let mut release =
                NewRelease::new(user, vec!["site0".to_owned()], OffsetDateTime::now_utc())
                    .expect("release");
            release.notes = vec![note.to_owned()];
            release.packages = vec![NewPackage::new("pkg", "1.0")];
            release
        }

        /// The release as `store` reads it by id, in a page and in a counted page.
        fn reads(store: &Store, id: shiplog_domain::ReleaseId) -> [shiplog_domain::Release; 3] {
            let filter = ReleaseFilter {
                id: Some(id),
                ..ReleaseFilter::default()
            };
            let page = Page {
                limit: Some(10),
                offset: 0,
                ascending: false,
            };
            let by_id = store
                .find_release(id, &ReleaseFilter::default())
                .expect("by id")
                .expect("found");
            let listed = store.list_releases(&filter, &page).expect("page");
            let (counted, total) = store
                .list_releases_counted(&filter, &page)
                .expect("counted");
            assert_eq!((listed.len(), counted.len(), total), (1, 1, 1));
            [by_id, listed[0].clone(), counted[0].clone()]
        }

        #[test]
        fn every_change_from_any_store_on_the_database_is_read_at_once() {
            for db in TestDb::all() {
                let (ours, theirs) = (db.store(), db.store());
                let fresh = uncached(&db);
                let id = ours
                    .insert_release(&new_release("ana", "first"))
                    .expect("insert");
                let read_alike = |step: &str| {
                    let truth = fresh
                        .find_release(id, &ReleaseFilter::default())
                        .expect("uncached read")
                        .expect("found");
                    for read in reads(&ours, id) {
                        assert_eq!(read, truth, "{:?}, after {step}", db.backend());
                    }
                };
                read_alike("the insert");
                let figures = ours.release_cache();
                assert!(figures.releases >= 1 && figures.hits >= 2, "{figures:?}");
                theirs.add_note(id, "second").expect("note");
                read_alike("a note");
                let meta = [("k".to_owned(), "v".to_owned())].into_iter().collect();
                theirs.merge_metadata(id, &meta).expect("metadata");
                read_alike("metadata");
                let package = theirs
                    .add_package(id, &NewPackage::new("other", "2.0"))
                    .expect("package");
                read_alike("a package");
                theirs.start_package(id, package).expect("start package");
                read_alike("a package's start");
                theirs
                    .stop_package(id, package, false)
                    .expect("stop package");
                read_alike("a package's stop");
                theirs.stop_release(id).expect("stop");
                read_alike("the release's stop");
                ours.start_release(id).expect("start again");
                read_alike("a start through the reading store");
                let read = &reads(&ours, id)[0];
                assert_eq!(read.notes, ["first", "second"]);
                assert_eq!(read.packages.len(), 2);
            }
        }

        #[test]
        fn a_release_recorded_again_under_its_id_reads_as_recorded_again() {
            for db in TestDb::all() {
                let store = db.store();
                let first = new_release("ana", "first life");
                let id = first.id;
                store.import_releases(&[first]).expect("import");
                assert_eq!(reads(&store, id)[0].notes, ["first life"]);
                {
                    let mut conn = store.conn().expect("connection");
                    for table in [
                        "packages",
                        "release_platforms",
                        "release_notes",
                        "release_metadata",
                    ] {
                        diesel::sql_query(format!("DELETE FROM {table} WHERE release_id = '{id}'"))
                            .execute(&mut *conn)
                            .expect(table);
                    }
                    diesel::sql_query(format!("DELETE FROM releases WHERE id = '{id}'"))
                        .execute(&mut *conn)
                        .expect("releases");
                }
                assert_eq!(
                    store
                        .find_release(id, &ReleaseFilter::default())
                        .expect("read"),
                    None
                );
                let mut second = new_release("bo", "second life");
                second.id = id;
                store.import_releases(&[second]).expect("import again");
                for read in reads(&store, id) {
                    assert_eq!(
                        (read.user.as_str(), &read.notes[..]),
                        ("bo", &["second life".to_owned()][..])
                    );
                }
            }
        }

        /// The cache trusts the revision: a related row edited by hand, without moving the
        /// revision, is not seen until the release changes (or the process restarts). This
        /// is what `docs/operations.md` tells operators.
        #[test]
        fn an_edit_that_does_not_move_the_revision_is_not_seen_until_the_release_changes() {
            for db in TestDb::all() {
                let store = db.store();
                let id = store
                    .insert_release(&new_release("ana", "kept"))
                    .expect("insert");
                assert_eq!(reads(&store, id)[0].notes, ["kept"]);
                {
                    let mut conn = store.conn().expect("connection");
                    diesel::sql_query(format!(
                        "DELETE FROM release_notes WHERE release_id = '{id}'"
                    ))
                    .execute(&mut *conn)
                    .expect("delete the note");
                }
                assert_eq!(reads(&store, id)[0].notes, ["kept"], "{:?}", db.backend());
                let fresh = uncached(&db);
                assert!(fresh
                    .find_release(id, &ReleaseFilter::default())
                    .expect("read")
                    .expect("found")
                    .notes
                    .is_empty());
                store.add_note(id, "after").expect("note");
                for read in reads(&store, id) {
                    assert_eq!(read.notes, ["after"], "{:?}", db.backend());
                }
            }
        }
    }
}
