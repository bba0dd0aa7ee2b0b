//! SQLite's write-ahead log written in one call a transaction, not two a page: a VFS that
//! `shiplog-storage` installs before it opens SQLite connections ([`install`]). It is a crate
//! of its own because a VFS is a table of C callbacks, and the rest of the workspace forbids
//! unsafe code.
//!
//! SQLite appends each page a transaction changes to the WAL as a frame, and writes every
//! frame in two calls: its 24-byte header, then the page. On the 2-core machine kind the write
//! thread of `POST /releases` spent nearly half its time in the kernel's buffered-write path
//! (13.85 `pwrite` calls a release, 6.7 frames), most of it per-call work (entering the kernel,
//! ext4's `write_begin`/`write_end`, the page-cache lookups) rather than copying bytes.
//!
//! This module registers a VFS that wraps the platform's own and changes one thing: writes to
//! a WAL file that continue where the previous one ended are gathered in memory, and reach the
//! file in one call when the transaction's commit frame has been written, or before any other
//! operation on the file (a read, a write elsewhere, a sync, a truncation, its size, closing
//! it), or when a megabyte has gathered. Everything else, and every other file, goes to the
//! platform's VFS as it is.
//!
//! Why that is safe: a frame is visible to readers only after the commit that holds it is
//! published in the shared WAL index, and SQLite publishes a commit only after writing its
//! commit frame (the frame whose header carries the database size, bytes 4–8, non-zero for a
//! commit and zero otherwise). Here the commit frame's write does not return until every byte
//! gathered before it is in the file, with its error if the write fails; so when the commit is
//! published, its frames are in the kernel exactly as without this module, and a process
//! killed after a commit loses nothing it would not have lost before. Frames of a transaction
//! not yet committed (a page-cache spill) may wait in memory; no reader can ask for them, and
//! SQLite itself reads them back only through this file, which writes them first.

// What every unsafe block below relies on: SQLite calls each file method with a file it
// opened through this VFS's `open` (an allocation of `szOsFile` bytes that `open` filled in),
// never for one file from two threads at once, and never after `xClose`; and it calls each
// VFS method with this VFS, whose `pAppData` is the platform's VFS. The platform's methods are
// called with the platform's own file and VFS, as their contracts ask.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The name the VFS is registered under, as the default.
const NAME: &CStr = c"shiplog";

/// The most bytes a WAL file gathers before writing them.
const GATHER_MAX: usize = 1 << 20;

/// The most bytes handed to the platform's file in one write: its Unix implementation writes
/// at most 128 KiB less one byte a call (it masks the length), and reports the rest as a full
/// disk.
const WRITE_MAX: usize = 124 << 10;

/// The size of a WAL frame's header: a 24-byte write to a WAL file is always one.
const FRAME_HEADER: c_int = 24;

/// Registers the VFS as the process's default, once; connections opened afterwards use it.
/// Fails only if SQLite refuses it (then connections keep the platform's VFS), with SQLite's
/// result code.
pub fn install() -> Result<(), c_int> {
    static INSTALLED: OnceLock<Result<(), c_int>> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns a VFS that lives
        // as long as the process (the platform's VFSes are static). The VFS built here is
        // leaked, as SQLite requires of a registered VFS.
        unsafe {
            let platform = ffi::sqlite3_vfs_find(ptr::null());
            if platform.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            let vfs = Box::leak(Box::new(wrapping(platform)));
            match ffi::sqlite3_vfs_register(vfs, 1) {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(rc),
            }
        }
    })
}

/// A WAL file: the platform's file, and the bytes gathered for it. The platform's file lives
/// in the same allocation, at [`INNER_AT`].
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    /// Bytes written and not yet in the file, starting at offset `gathered_at`.
    gathered: Vec<u8>,
    gathered_at: i64,
    /// The last write was a commit frame's header: its page ends the transaction's frames.
    commit_header: bool,
}

/// Where the platform's file starts inside a [`WalFile`]'s allocation: 8-byte aligned, as
/// SQLite's own allocation is.
const INNER_AT: usize = size_of::<WalFile>().next_multiple_of(16);

// SQLite aligns the file's allocation to 8 bytes; a `WalFile` must need no more.
const _: () = assert!(align_of::<WalFile>() <= 8);

/// The platform's file inside `file`'s allocation (a WAL file's: see `open`).
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    unsafe { file.cast::<u8>().add(INNER_AT).cast() }
}

/// The platform's methods of `file` (set by its `xOpen`).
unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    unsafe { &*(*file).pMethods }
}

/// The platform's VFS, kept as the wrapping VFS's `pAppData`.
unsafe fn platform(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    unsafe { (*vfs).pAppData.cast() }
}

fn wrapping(platform: *mut ffi::sqlite3_vfs) -> ffi::sqlite3_vfs {
    // SAFETY: `platform` is a registered VFS (see `install`).
    let (size, path_max) = unsafe { ((*platform).szOsFile, (*platform).mxPathname) };
    let size = c_int::try_from(INNER_AT)
        .unwrap_or(c_int::MAX)
        .saturating_add(size);
    ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: size,
        mxPathname: path_max,
        pNext: ptr::null_mut(),
        zName: NAME.as_ptr(),
        pAppData: platform.cast(),
        xOpen: Some(open),
        xDelete: Some(delete),
        xAccess: Some(access),
        xFullPathname: Some(full_pathname),
        xDlOpen: Some(dl_open),
        xDlError: Some(dl_error),
        xDlSym: Some(dl_sym),
        xDlClose: Some(dl_close),
        xRandomness: Some(randomness),
        xSleep: Some(sleep),
        xCurrentTime: Some(current_time),
        xGetLastError: Some(get_last_error),
        xCurrentTimeInt64: Some(current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }
}

/// Opens a file with the platform's VFS: every file but a WAL directly in `file`, a WAL file
/// inside a [`WalFile`].
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let platform = platform(vfs);
        let Some(open) = (*platform).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return open(platform, name, file, flags, out_flags);
        }
        let rc = open(platform, name, inner(file), flags, out_flags);
        if rc != ffi::SQLITE_OK || (*inner(file)).pMethods.is_null() {
            (*file).pMethods = ptr::null();
            return rc;
        }
        ptr::write(
            file.cast::<WalFile>(),
            WalFile {
                base: ffi::sqlite3_file {
                    pMethods: &WAL_METHODS,
                },
                gathered: Vec::new(),
                gathered_at: 0,
                commit_header: false,
            },
        );
        rc
    }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // Version 1: a WAL file is never memory-mapped and never holds the shared index (that
    // is the database file's), so SQLite asks it for nothing newer.
    iVersion: 1,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// Writes the gathered bytes to the file, if any. They are dropped either way: after a failed
/// write SQLite abandons the transaction, and its frames are written again or never used.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let wal = &mut *file.cast::<WalFile>();
        if wal.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let inner = inner(file);
        let Some(write) = methods(inner).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        #[cfg(test)]
        tests::FLUSHES.with(|n| n.set(n.get() + 1));
        let mut rc = ffi::SQLITE_OK;
        let mut at = wal.gathered_at;
        for chunk in wal.gathered.chunks(WRITE_MAX) {
            // Both fit: a chunk is at most `WRITE_MAX` bytes.
            let len = c_int::try_from(chunk.len()).unwrap_or(c_int::MAX);
            rc = write(inner, chunk.as_ptr().cast(), len, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += i64::from(len);
        }
        wal.gathered.clear();
        wal.commit_header = false;
        rc
    }
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let wal = &mut *file.cast::<WalFile>();
        let continues = i64::try_from(wal.gathered.len())
            .ok()
            .and_then(|gathered| wal.gathered_at.checked_add(gathered))
            == Some(offset);
        if !wal.gathered.is_empty() && (!continues || wal.gathered.len() + len > GATHER_MAX) {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let wal = &mut *file.cast::<WalFile>();
        if wal.gathered.is_empty() {
            wal.gathered_at = offset;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        wal.gathered.extend_from_slice(bytes);
        if amount == FRAME_HEADER {
            // Bytes 4–8 of a frame header: the database's size after a commit, else zero.
            wal.commit_header = bytes[4..8] != [0, 0, 0, 0];
            return ffi::SQLITE_OK;
        }
        if wal.commit_header {
            // The commit frame's page: every frame of the transaction goes out now, before
            // SQLite publishes the commit.
            return flush(file);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed = flush(file);
        let inner = inner(file);
        let closed = methods(inner)
            .xClose
            .map_or(ffi::SQLITE_OK, |close| close(inner));
        ptr::drop_in_place(ptr::addr_of_mut!((*file.cast::<WalFile>()).gathered));
        (*file).pMethods = ptr::null();
        if flushed == ffi::SQLITE_OK {
            closed
        } else {
            flushed
        }
    }
}

/// Defines a method of [`WAL_METHODS`] that writes the gathered bytes first, then hands the
/// call to the platform's file.
macro_rules! flushing {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* )) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            unsafe {
                let rc = flush(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let inner = inner(file);
                match methods(inner).$method {
                    Some(method) => method(inner, $($arg),*),
                    None => ffi::SQLITE_NOTFOUND,
                }
            }
        }
    };
}

/// Defines a method of [`WAL_METHODS`] that only hands the call on: it neither reads nor
/// changes the file's bytes.
macro_rules! passing {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            unsafe {
                let inner = inner(file);
                match methods(inner).$method {
                    Some(method) => method(inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

flushing!(wal_read, xRead(data: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64));
flushing!(wal_truncate, xTruncate(size: ffi::sqlite3_int64));
flushing!(wal_sync, xSync(flags: c_int));
flushing!(wal_file_size, xFileSize(size: *mut ffi::sqlite3_int64));
flushing!(wal_file_control, xFileControl(op: c_int, arg: *mut c_void));
passing!(wal_lock, xLock(level: c_int), ffi::SQLITE_OK);
passing!(wal_unlock, xUnlock(level: c_int), ffi::SQLITE_OK);
passing!(wal_check_reserved_lock, xCheckReservedLock(out: *mut c_int), ffi::SQLITE_OK);
passing!(wal_sector_size, xSectorSize(), 4096);
passing!(wal_device_characteristics, xDeviceCharacteristics(), 0);

/// Defines a method of the wrapping VFS that hands the call to the platform's VFS.
macro_rules! platform_vfs {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $ty),*) -> $ret {
            unsafe {
                let platform = platform(vfs);
                match (*platform).$method {
                    Some(method) => method(platform, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

platform_vfs!(delete, xDelete(name: *const c_char, sync_dir: c_int) -> c_int, ffi::SQLITE_IOERR_DELETE);
platform_vfs!(access, xAccess(name: *const c_char, flags: c_int, out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_ACCESS);
platform_vfs!(full_pathname, xFullPathname(name: *const c_char, size: c_int, out: *mut c_char) -> c_int, ffi::SQLITE_CANTOPEN);
platform_vfs!(dl_open, xDlOpen(name: *const c_char) -> *mut c_void, ptr::null_mut());
platform_vfs!(dl_error, xDlError(size: c_int, out: *mut c_char) -> (), ());
platform_vfs!(dl_sym, xDlSym(handle: *mut c_void, symbol: *const c_char) -> Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>, None);
platform_vfs!(dl_close, xDlClose(handle: *mut c_void) -> (), ());
platform_vfs!(randomness, xRandomness(size: c_int, out: *mut c_char) -> c_int, 0);
platform_vfs!(sleep, xSleep(micros: c_int) -> c_int, 0);
platform_vfs!(current_time, xCurrentTime(now: *mut f64) -> c_int, ffi::SQLITE_ERROR);
platform_vfs!(get_last_error, xGetLastError(size: c_int, out: *mut c_char) -> c_int, 0);
platform_vfs!(current_time_int64, xCurrentTimeInt64(now: *mut ffi::sqlite3_int64) -> c_int, ffi::SQLITE_ERROR);

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    thread_local! {
        /// Gathered writes handed to the platform's files by this thread (each test runs on
        /// a thread of its own).
        pub(super) static FLUSHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn number(conn: &mut SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Number>(conn)
            .expect(sql)
            .n
    }

    /// A directory of its own under the system's temporary one, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("wal-gather-{}-{name}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("directory");
            Dir(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A connection through the VFS, in WAL mode, never checkpointing on its own: every commit
    /// stays in the WAL file.
    fn open(path: &Path) -> SqliteConnection {
        super::install().expect("the VFS installs");
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open");
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
        )
        .expect("set up");
        conn
    }

    /// Commits `rows` rows of a kilobyte each, in one transaction.
    fn commit_rows(conn: &mut SqliteConnection, rows: i64) {
        conn.batch_execute(&format!(
            "BEGIN; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO t (body) SELECT randomblob(1024) FROM n; \
             COMMIT;"
        ))
        .expect("commit");
    }

    /// The database as a process killed now would leave it: its file and its WAL copied
    /// elsewhere while the connection that wrote them is still open.
    fn as_left_after_a_kill(dir: &Dir, db: &Path) -> SqliteConnection {
        let copy = dir.file("copy.db");
        std::fs::copy(db, &copy).expect("copy the database");
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let mut copied_wal = copy.as_os_str().to_owned();
        copied_wal.push("-wal");
        std::fs::copy(&wal, &copied_wal).expect("copy the WAL");
        SqliteConnection::establish(&copy.to_string_lossy()).expect("open the copy")
    }

    #[test]
    fn a_commit_is_in_the_file_when_it_returns_and_seen_by_every_other_connection() {
        let dir = Dir::new("commit");
        let path = dir.file("db");
        let mut writer = open(&path);
        let mut reader = open(&path);
        for round in 1..=5 {
            commit_rows(&mut writer, 100);
            assert_eq!(
                number(&mut reader, "SELECT COUNT(*) AS n FROM t"),
                100 * round
            );
        }
        let mut copy = as_left_after_a_kill(&dir, &path);
        assert_eq!(number(&mut copy, "SELECT COUNT(*) AS n FROM t"), 500);
        let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
            .load(&mut copy)
            .expect("integrity check");
        assert_eq!(check.len(), 1);
        assert_eq!(check[0].integrity_check, "ok");
    }

    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }

    /// A commit of about 120 pages reaches the file in two writes (124 KiB each at most),
    /// not 240.
    #[test]
    fn a_commit_is_written_in_a_few_large_writes() {
        let dir = Dir::new("count");
        let path = dir.file("db");
        let mut conn = open(&path);
        commit_rows(&mut conn, 10);
        let before = FLUSHES.with(std::cell::Cell::get);
        commit_rows(&mut conn, 100);
        let writes = FLUSHES.with(std::cell::Cell::get) - before;
        assert!((1..=2).contains(&writes), "{writes} gathered writes");
        assert_eq!(number(&mut conn, "SELECT COUNT(*) AS n FROM t"), 110);
    }

    /// With a page cache of a few pages a transaction spills frames to the WAL before it
    /// commits, reads them back, and may roll them back: all of that reads what was written.
    #[test]
    fn spilled_frames_read_back_roll_back_and_commit_correctly() {
        let dir = Dir::new("spill");
        let path = dir.file("db");
        let mut conn = open(&path);
        conn.batch_execute("PRAGMA cache_size = 10")
            .expect("small cache");
        commit_rows(&mut conn, 50);
        conn.batch_execute(
            "BEGIN; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO t (body) SELECT randomblob(1024) FROM n;",
        )
        .expect("a large insert");
        assert_eq!(number(&mut conn, "SELECT COUNT(*) AS n FROM t"), 2050);
        assert_eq!(
            number(&mut conn, "SELECT SUM(length(body)) AS n FROM t"),
            2050 * 1024
        );
        conn.batch_execute("ROLLBACK").expect("rollback");
        assert_eq!(number(&mut conn, "SELECT COUNT(*) AS n FROM t"), 50);
        commit_rows(&mut conn, 1500);
        let mut reader = open(&path);
        assert_eq!(number(&mut reader, "SELECT COUNT(*) AS n FROM t"), 1550);
        let mut copy = as_left_after_a_kill(&dir, &path);
        assert_eq!(number(&mut copy, "SELECT COUNT(*) AS n FROM t"), 1550);
        let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
            .load(&mut copy)
            .expect("integrity check");
        assert_eq!(check[0].integrity_check, "ok");
    }

    /// A checkpoint that empties the WAL, and the next transaction starting it over from its
    /// header, go through the same file.
    #[test]
    fn the_wal_starts_over_after_a_full_checkpoint() {
        let dir = Dir::new("restart");
        let path = dir.file("db");
        let mut conn = open(&path);
        for _ in 0..3 {
            commit_rows(&mut conn, 200);
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .expect("checkpoint");
        }
        commit_rows(&mut conn, 10);
        let mut reader = open(&path);
        assert_eq!(number(&mut reader, "SELECT COUNT(*) AS n FROM t"), 610);
        drop(conn);
        drop(reader);
        let mut again = open(&path);
        assert_eq!(number(&mut again, "SELECT COUNT(*) AS n FROM t"), 610);
    }
}
