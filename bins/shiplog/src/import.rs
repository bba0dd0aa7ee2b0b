//! `shiplog import FILE`: the Orlo import document, read from a file as a stream.
//!
//! The file is parsed one release at a time (never held whole, neither as text nor as a JSON
//! tree), each release checked by the same rules as `POST /releases/import`; then everything is
//! recorded in one transaction, so a bad release anywhere imports nothing.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use shiplog_api::orlo::import::parse_release;
use shiplog_domain::NewRelease;
use shiplog_storage::Store;
use time::OffsetDateTime;

/// Parses and records the releases in `path`; returns how many were imported.
pub fn import_file(store: &Store, path: &Path, show_progress: bool) -> Result<usize, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if show_progress {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(style("{msg:>9} [{bar:40}] {bytes}/{total_bytes} ({eta})"));
    bar.set_message("reading");
    let reader = BufReader::with_capacity(1 << 16, bar.wrap_read(file));
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let releases = ReleaseList {
        now: OffsetDateTime::now_utc(),
    }
    .deserialize(&mut deserializer)
    .map_err(|e| format!("{}: {e}", path.display()))?;
    deserializer
        .end()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    bar.finish_and_clear();

    let bar = if show_progress {
        ProgressBar::new(releases.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(style("{msg:>9} [{bar:40}] {pos}/{len} releases ({eta})"));
    bar.set_message("recording");
    let ids = store
        .import_releases_with_progress(&releases, |done| bar.set_position(done as u64))
        .map_err(|e| format!("import failed, nothing was recorded: {e}"))?;
    bar.finish_and_clear();
    Ok(ids.len())
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Deserialises the top-level list one release at a time, converting each as it arrives.
struct ReleaseList {
    now: OffsetDateTime,
}

impl<'de> DeserializeSeed<'de> for ReleaseList {
    type Value = Vec<NewRelease>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ReleaseList {
    type Value = Vec<NewRelease>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON list of releases")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut releases = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element::<Value>()? {
            let release =
                parse_release(&value, releases.len(), self.now).map_err(de::Error::custom)?;
            releases.push(release);
        }
        if releases.is_empty() {
            return Err(de::Error::custom("the import document holds no releases"));
        }
        Ok(releases)
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
        assert_eq!(import_file(&store, &good, false), Ok(2));
        let bad = write(
            &dir,
            "bad.json",
            r#"[{"user": "c", "platforms": ["p"], "packages": []}, {"user": "d", "platforms": ["p"]}]"#,
        );
        let err = import_file(&store, &bad, false).expect_err("refused");
        assert!(err.contains("release 1: packages: is required"), "{err}");
        let broken = write(&dir, "broken.json", r#"[{"user": "c""#);
        assert!(import_file(&store, &broken, false).is_err());
        assert!(import_file(&store, &dir.join("missing.json"), false)
            .expect_err("no file")
            .starts_with("cannot open"));
        let all = Page {
            limit: None,
            offset: 0,
            ascending: true,
        };
        let users: Vec<String> = store
            .list_releases(&ReleaseFilter::default(), &all)
            .expect("list")
            .into_iter()
            .map(|r| r.user)
            .collect();
        assert_eq!(users, ["a", "b"], "the refused files recorded nothing");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn uuid_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }
}
