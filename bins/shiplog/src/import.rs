//! `shiplog import FILE`: the Orlo import document, read from a file as a stream.
//!
//! The file is parsed one release at a time (never held whole, neither as text nor as a JSON
//! tree), each release checked by the same rules as `POST /releases/import`, and recorded a
//! thousand at a time into one open transaction: memory stays flat however large the file, and
//! a bad release anywhere imports nothing.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use shiplog_api::orlo::import::parse_release;
use shiplog_api::webhooks::destination::check_destination;
use shiplog_domain::NewRelease;
use shiplog_storage::{ImportSink, StorageError, Store};
use time::OffsetDateTime;

/// Releases parsed before they are recorded together.
const BATCH: usize = 1_000;

/// Parses and records the releases in `path`, each with `recorded_by`; returns how many were
/// imported.
pub fn import_file(
    store: &Store,
    path: &Path,
    recorded_by: &str,
    show_progress: bool,
) -> Result<usize, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if show_progress {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(style("{msg:>9} [{bar:40}] {bytes}/{total_bytes} ({eta})"));
    bar.set_message("importing");
    let reader = BufReader::with_capacity(1 << 16, bar.wrap_read(file));
    let now = OffsetDateTime::now_utc();
    let count = store
        .import_streamed(|sink| {
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            ReleaseStream {
                now,
                recorded_by,
                sink,
                batch: Vec::with_capacity(BATCH),
            }
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
        })
        .map_err(|failure| match failure {
            Failure::Input(message) => message,
            Failure::Storage(e) => format!("import failed, nothing was recorded: {e}"),
        })?;
    bar.finish_and_clear();
    Ok(count)
}

/// Why a streamed import stopped: the file, or the database.
enum Failure {
    Input(String),
    Storage(StorageError),
}

impl From<StorageError> for Failure {
    fn from(err: StorageError) -> Self {
        Failure::Storage(err)
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Deserialises the top-level list one release at a time, converting each as it arrives and
/// recording them a batch at a time.
struct ReleaseStream<'s, 'c> {
    now: OffsetDateTime,
    recorded_by: &'s str,
    sink: &'s mut ImportSink<'c>,
    batch: Vec<NewRelease>,
}

impl<'de> DeserializeSeed<'de> for ReleaseStream<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ReleaseStream<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list of releases")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut seen = 0;
        while let Some(value) = seq.next_element::<Value>()? {
            let mut release = parse_release(&value, seen, self.now).map_err(de::Error::custom)?;
            if let Some(url) = &release.callback {
                // The fixed refusals (link-local, metadata, …); a server's --webhook-deny-cidrs
                // is applied again before each attempt it makes.
                check_destination(url, &[]).map_err(|reason| {
                    de::Error::custom(format!("release {seen}: callback: {reason}"))
                })?;
            }
            release.recorded_by = Some(self.recorded_by.to_owned());
            seen += 1;
            self.batch.push(release);
            if self.batch.len() == BATCH {
                self.flush()?;
            }
        }
        if seen == 0 {
            return Err(de::Error::custom("the import document holds no releases"));
        }
        self.flush()
    }
}

impl ReleaseStream<'_, '_> {
    fn flush<E: de::Error>(&mut self) -> Result<(), E> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.sink
            .record(&self.batch)
            .map_err(|e| E::custom(format!("recording releases failed: {e}")))?;
        self.batch.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shiplog_storage::testing::TestDb;
    use shiplog_storage::{Page, ReleaseFilter};

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    #[test]
    fn imports_a_file_atomically() {
        let db = TestDb::sqlite();
        let store = db.store();
        let dir = std::env::temp_dir().join(format!("shiplog-import-{}", uuid_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = write(
            &dir,
            "good.json",
            r#"[{"user": "a", "platforms": ["p"], "stime": 1450371724, "packages": [{"name": "web", "version": "1", "status": "SUCCESSFUL"}]},
                {"user": "b", "platforms": "q", "packages": []}]"#,
        );
        assert_eq!(import_file(&store, &good, "cli:ops", false), Ok(2));
        let bad = write(
            &dir,
            "bad.json",
            r#"[{"user": "c", "platforms": ["p"], "packages": []}, {"user": "d", "platforms": ["p"]}]"#,
        );
        let err = import_file(&store, &bad, "cli:ops", false).expect_err("refused");
        assert!(err.contains("release 1: packages: is required"), "{err}");
        let broken = write(&dir, "broken.json", r#"[{"user": "c""#);
        assert!(import_file(&store, &broken, "cli:ops", false).is_err());
        assert!(
            import_file(&store, &dir.join("missing.json"), "cli:ops", false)
                .expect_err("no file")
                .starts_with("cannot open")
        );
        let all = Page {
            limit: None,
            offset: 0,
            ascending: true,
        };
        let recorded: Vec<(String, Option<String>)> = store
            .list_releases(&ReleaseFilter::default(), &all)
            .expect("list")
            .into_iter()
            .map(|r| (r.user, r.recorded_by))
            .collect();
        let by = Some("cli:ops".to_owned());
        assert_eq!(
            recorded,
            [("a".to_owned(), by.clone()), ("b".to_owned(), by)],
            "the refused files recorded nothing"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn uuid_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }
}
