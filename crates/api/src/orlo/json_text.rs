//! The Orlo face's release and package lists, written straight as JSON text.
//!
//! The bytes are exactly those serde_json writes for [`ReleaseList`] and [`PackageList`]: the
//! tests below hold them equal, and those types stay what the API description shows. serde_json
//! writes each field as several small writes (a comma, the key's quotes, the key run through
//! its escaper, a colon, the value), and that cost more than everything else a release's
//! response does outside the database: 139,700 of the 1.10 M instructions of a page of ten
//! releases on SQLite, 11,300 of the 132,000 of a release by id (callgrind, 2026-12-07). Here a
//! key with its punctuation is one copy of a constant, and ids, times and statuses, which never
//! need escaping, are copied as they are.
//!
//! [`ReleaseList`]: super::json::ReleaseList
//! [`PackageList`]: super::json::PackageList

use shiplog_domain::timestamp::{self, Seconds};
use shiplog_domain::{Package, Release};
use time::OffsetDateTime;
use uuid::Uuid;

/// `{"releases": [...]}` for `releases`, as `ReleaseList` serialises.
pub(crate) fn release_list(releases: &[Release]) -> Vec<u8> {
    let mut out = JsonText::with_capacity(16 + releases.len() * 768);
    out.raw(b"{\"releases\":[");
    out.separated(releases, JsonText::release);
    out.raw(b"]}");
    out.0
}

/// `{"packages": [...]}` for `packages`, as `PackageList` serialises.
pub(crate) fn package_list<'a>(packages: impl ExactSizeIterator<Item = &'a Package>) -> Vec<u8> {
    let mut out = JsonText::with_capacity(16 + packages.len() * 320);
    out.raw(b"{\"packages\":[");
    out.separated(packages, JsonText::package);
    out.raw(b"]}");
    out.0
}

/// A JSON text being written.
struct JsonText(Vec<u8>);

impl JsonText {
    fn with_capacity(capacity: usize) -> Self {
        JsonText(Vec::with_capacity(capacity))
    }

    /// Bytes that are already JSON (keys with their punctuation, literals).
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// The fields in `ReleaseJson`'s order.
    fn release(&mut self, r: &Release) {
        self.raw(b"{\"id\":");
        self.id(r.id.as_uuid());
        self.raw(b",\"user\":");
        self.string(&r.user);
        self.raw(b",\"team\":");
        self.opt_string(r.team.as_deref());
        self.raw(b",\"platforms\":");
        self.strings(&r.platforms);
        self.raw(b",\"references\":");
        self.strings(&r.references);
        self.raw(b",\"stime\":");
        self.time(r.stime);
        self.raw(b",\"ftime\":");
        self.opt_time(r.ftime);
        self.raw(b",\"duration\":");
        self.opt_int(r.duration);
        self.raw(b",\"notes\":");
        self.strings(&r.notes);
        self.raw(b",\"metadata\":{");
        self.separated(&r.metadata, |out, (key, value)| {
            out.string(key);
            out.raw(b":");
            out.string(value);
        });
        self.raw(b"},\"packages\":[");
        self.separated(&r.packages, JsonText::package);
        self.raw(b"],\"status\":");
        self.opt_plain(r.status().map(|s| s.as_str()));
        self.raw(b",\"recorded_by\":");
        self.opt_string(r.recorded_by.as_deref());
        self.raw(b"}");
    }

    /// The fields in `PackageJson`'s order.
    fn package(&mut self, p: &Package) {
        self.raw(b"{\"id\":");
        self.id(p.id.as_uuid());
        self.raw(b",\"release_id\":");
        self.id(p.release_id.as_uuid());
        self.raw(b",\"name\":");
        self.string(&p.name);
        self.raw(b",\"version\":");
        self.string(&p.version);
        self.raw(b",\"status\":");
        self.plain(p.status.as_str());
        self.raw(if p.rollback {
            b",\"rollback\":true,\"diff_url\":"
        } else {
            b",\"rollback\":false,\"diff_url\":"
        });
        self.opt_string(p.diff_url.as_deref());
        self.raw(b",\"stime\":");
        self.opt_time(p.stime);
        self.raw(b",\"ftime\":");
        self.opt_time(p.ftime);
        self.raw(b",\"duration\":");
        self.opt_int(p.duration);
        self.raw(b"}");
    }

    /// A string known to need no escaping (a status name), quoted.
    fn plain(&mut self, text: &str) {
        debug_assert!(!text.bytes().any(needs_escape));
        self.raw(b"\"");
        self.raw(text.as_bytes());
        self.raw(b"\"");
    }

    fn opt_plain(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.plain(text),
            None => self.raw(b"null"),
        }
    }

    /// A string, quoted and escaped as serde_json escapes: `"`, `\` and the control characters
    /// below U+0020, the usual ones by their short forms, the rest as `\u00xx`; nothing else.
    fn string(&mut self, text: &str) {
        self.raw(b"\"");
        let bytes = text.as_bytes();
        let mut start = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if !needs_escape(byte) {
                continue;
            }
            self.raw(&bytes[start..at]);
            match byte {
                b'"' => self.raw(b"\\\""),
                b'\\' => self.raw(b"\\\\"),
                b'\n' => self.raw(b"\\n"),
                b'\r' => self.raw(b"\\r"),
                b'\t' => self.raw(b"\\t"),
                0x08 => self.raw(b"\\b"),
                0x0c => self.raw(b"\\f"),
                control => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.raw(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(control >> 4)],
                        HEX[usize::from(control & 0xf)],
                    ]);
                }
            }
            start = at + 1;
        }
        self.raw(&bytes[start..]);
        self.raw(b"\"");
    }

    fn opt_string(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.raw(b"null"),
        }
    }

    fn strings(&mut self, items: &[String]) {
        self.raw(b"[");
        self.separated(items, |out, item| out.string(item));
        self.raw(b"]");
    }

    /// `items`, each written by `write`, separated by commas (the brackets are the caller's).
    fn separated<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T),
    ) {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            write(self, item);
        }
    }

    /// An id, lowercase and hyphenated, quoted.
    fn id(&mut self, id: Uuid) {
        let mut buffer = Uuid::encode_buffer();
        self.plain(id.hyphenated().encode_lower(&mut buffer));
    }

    /// A time in Orlo's form, quoted (as `timestamp::serialize_seconds` writes it).
    fn time(&mut self, ts: OffsetDateTime) {
        match Seconds(ts).utc_text() {
            Some(text) => self.plain(text.as_str()),
            None => self.string(&timestamp::format(ts)),
        }
    }

    fn opt_time(&mut self, ts: Option<OffsetDateTime>) {
        match ts {
            Some(ts) => self.time(ts),
            None => self.raw(b"null"),
        }
    }

    fn opt_int(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.raw(itoa::Buffer::new().format(n).as_bytes()),
            None => self.raw(b"null"),
        }
    }
}

/// Whether serde_json escapes this byte of a string (non-ASCII bytes pass through as they are).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use shiplog_domain::{PackageId, PackageStatus, ReleaseId};
    use time::macros::datetime;

    use super::*;
    use crate::orlo::json::{PackageJson, PackageList, ReleaseJson, ReleaseList};

    fn serde_release_list(releases: &[Release]) -> Vec<u8> {
        serde_json::to_vec(&ReleaseList {
            releases: releases.iter().map(ReleaseJson::from).collect(),
        })
        .unwrap()
    }

    fn serde_package_list(packages: &[Package]) -> Vec<u8> {
        serde_json::to_vec(&PackageList {
            packages: packages.iter().map(PackageJson::from).collect(),
        })
        .unwrap()
    }

    fn package(release_id: ReleaseId, name: &str, status: PackageStatus) -> Package {
        Package {
            id: PackageId::new(),
            release_id,
            name: name.to_owned(),
            version: "1.0\u{7f}".to_owned(),
            status,
            rollback: status == PackageStatus::Failed,
            diff_url: Some("https://example.com/diff?a=1&b=\"2\"".to_owned()),
            stime: Some(datetime!(2026-12-07 10:11:12.345678 UTC)),
            ftime: None,
            duration: Some(-3),
        }
    }

    /// Every shape a field takes: absent and present, empty and not, text that needs each kind
    /// of escape, times outside the four-digit years and with offsets and fractions.
    fn releases() -> Vec<Release> {
        let awkward = "quote \" backslash \\ slash / newline \n cr \r tab \t bs \u{8} ff \u{c} \
                       nul \u{0} unit \u{1f} del \u{7f} é 日本 🚀";
        let id = ReleaseId::new();
        let plain = Release {
            id,
            user: "alice".to_owned(),
            team: None,
            platforms: vec![],
            references: vec![],
            stime: datetime!(2015-12-18 00:26:04 UTC),
            ftime: None,
            duration: None,
            notes: vec![],
            metadata: Default::default(),
            packages: vec![],
            recorded_by: None,
        };
        let full = Release {
            id: ReleaseId::new(),
            user: awkward.to_owned(),
            team: Some(awkward.to_owned()),
            platforms: vec!["site0".to_owned(), awkward.to_owned(), String::new()],
            references: vec!["T-1".to_owned(), awkward.to_owned()],
            stime: datetime!(2026-12-07 10:11:12.999999 +05:30),
            ftime: Some(datetime!(2026-12-07 10:12:00 UTC)),
            duration: Some(i64::MAX),
            notes: vec![awkward.to_owned(), String::new(), "second".to_owned()],
            metadata: [
                (awkward.to_owned(), awkward.to_owned()),
                (String::new(), String::new()),
                ("key".to_owned(), "value".to_owned()),
            ]
            .into_iter()
            .collect(),
            packages: vec![
                package(id, awkward, PackageStatus::Successful),
                package(id, "pkg1", PackageStatus::Failed),
                package(id, "pkg2", PackageStatus::InProgress),
                package(id, "pkg3", PackageStatus::NotStarted),
            ],
            recorded_by: Some("admin".to_owned()),
        };
        let far = Release {
            stime: datetime!(0000-01-01 00:00:00 UTC),
            ftime: Some(datetime!(-0001-12-31 23:59:59 UTC)),
            duration: Some(i64::MIN),
            packages: vec![Package {
                stime: Some(datetime!(9999-12-31 23:59:59.999999 UTC)),
                ftime: Some(datetime!(-0012-06-01 12:00:00 UTC)),
                diff_url: None,
                duration: None,
                ..package(id, "pkg", PackageStatus::Successful)
            }],
            ..plain.clone()
        };
        vec![plain, full, far]
    }

    #[test]
    fn a_release_list_is_what_serde_json_writes() {
        let releases = releases();
        for n in 0..=releases.len() {
            let slice = &releases[..n];
            assert_eq!(
                String::from_utf8(release_list(slice)).unwrap(),
                String::from_utf8(serde_release_list(slice)).unwrap(),
                "{n} releases"
            );
        }
    }

    #[test]
    fn a_package_list_is_what_serde_json_writes() {
        let packages = releases().swap_remove(1).packages;
        for n in 0..=packages.len() {
            assert_eq!(
                String::from_utf8(package_list(packages[..n].iter())).unwrap(),
                String::from_utf8(serde_package_list(&packages[..n])).unwrap(),
                "{n} packages"
            );
        }
    }

    proptest! {
        /// Any text, in every place a release holds text, is escaped as serde_json escapes it.
        #[test]
        fn any_text_is_escaped_as_serde_json_escapes_it(
            texts in proptest::collection::vec(any::<String>(), 6),
        ) {
            let mut release = releases().swap_remove(1);
            release.user = texts[0].clone();
            release.team = Some(texts[1].clone());
            release.platforms = vec![texts[2].clone()];
            release.notes = vec![texts[3].clone()];
            release.metadata = [(texts[4].clone(), texts[5].clone())].into_iter().collect();
            release.packages[0].name = texts[5].clone();
            release.packages[0].diff_url = Some(texts[0].clone());
            let releases = [release];
            prop_assert_eq!(release_list(&releases), serde_release_list(&releases));
        }
    }
}
