//! Releases and packages: what the ledger records about one deployment.
//!
//! A release is one change rolled out by a user (and team) to some platforms; it holds the
//! packages deployed in it, free-text notes, string metadata and external references. Its status
//! is never stored: it is derived from the packages ([`ReleaseStatus::derive`]).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{DomainError, DomainResult};
use crate::ids::{PackageId, ReleaseId};
use crate::input::{self, TextKind};
use crate::status::{PackageStatus, ReleaseStatus};
use crate::timestamp;

/// Release metadata: string keys to string values, merged key by key.
pub type Metadata = BTreeMap<String, String>;

/// A recorded release with everything it holds.
///
/// Its JSON is the Orlo face's: what `GET /releases/{id}` answers inside `{"releases": [...]}`
/// deserializes into a `Release` (timestamps in any form [`timestamp::parse`] accepts, the
/// derived `status` and unknown keys ignored), and a `Release` serializes to that shape again,
/// `status` included, timestamps as `%Y-%m-%dT%H:%M:%SZ` (whole seconds).
///
/// ```
/// use shiplog_domain::{serde_json, PackageStatus, Release};
///
/// let answer = serde_json::json!({"releases": [{
///     "id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "user": "alice", "team": "web",
///     "platforms": ["site1"], "references": ["JIRA-1"], "notes": [], "metadata": {},
///     "stime": "2015-12-17T17:02:04Z", "ftime": null, "duration": null,
///     "status": "SUCCESSFUL", "recorded_by": "alice",
///     "packages": [{"id": "6e0a4ba0-1b5b-4b1e-a4a3-1b9b9a4cfd38",
///         "release_id": "3ad4c5a0-3c5e-4a8e-9d0f-2a56c2a6d3f1", "name": "web",
///         "version": "1.0.1", "status": "SUCCESSFUL", "rollback": false, "diff_url": null,
///         "stime": "2015-12-17T17:02:04Z", "ftime": "2015-12-17T17:02:24Z", "duration": 20}]
/// }]});
/// let release: Release = serde_json::from_value(answer["releases"][0].clone())?;
/// assert_eq!(release.status(), Some(PackageStatus::Successful));
/// assert_eq!(serde_json::to_value(&release)?, answer["releases"][0]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Release {
    /// The ledger's id for the release.
    pub id: ReleaseId,
    /// The user the client reports as doing the release.
    pub user: String,
    /// The team doing it, if any.
    #[serde(default)]
    pub team: Option<String>,
    /// The platforms (sites, clusters, …) it is rolled out to.
    pub platforms: Vec<String>,
    /// External references: tickets, change requests, links.
    #[serde(default)]
    pub references: Vec<String>,
    /// When the release started.
    #[serde(with = "timestamp::orlo")]
    pub stime: OffsetDateTime,
    /// When it stopped, if it has.
    #[serde(default, with = "timestamp::orlo::option")]
    pub ftime: Option<OffsetDateTime>,
    /// Whole seconds from `stime` to `ftime`, fixed when the release stops.
    #[serde(default)]
    pub duration: Option<i64>,
    /// Free-text notes, oldest first.
    #[serde(default)]
    pub notes: Vec<String>,
    /// String metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// The packages deployed in it.
    #[serde(default)]
    pub packages: Vec<Package>,
    /// The authenticated caller who recorded the release (`user` is what the client reports).
    #[serde(default)]
    pub recorded_by: Option<String>,
}

impl Release {
    /// The status derived from this release's packages (see [`ReleaseStatus::derive`]).
    pub fn status(&self) -> Option<PackageStatus> {
        ReleaseStatus::derive(self.packages.iter().map(|p| p.status))
    }
}

/// A release as the Orlo face writes it: the fields in Orlo's order, plus the derived status.
#[derive(Serialize)]
struct ReleaseWire<'a> {
    id: &'a ReleaseId,
    user: &'a str,
    team: &'a Option<String>,
    platforms: &'a [String],
    references: &'a [String],
    #[serde(with = "timestamp::orlo")]
    stime: OffsetDateTime,
    #[serde(with = "timestamp::orlo::option")]
    ftime: Option<OffsetDateTime>,
    duration: Option<i64>,
    notes: &'a [String],
    metadata: &'a Metadata,
    packages: &'a [Package],
    status: Option<PackageStatus>,
    recorded_by: &'a Option<String>,
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReleaseWire {
            id: &self.id,
            user: &self.user,
            team: &self.team,
            platforms: &self.platforms,
            references: &self.references,
            stime: self.stime,
            ftime: self.ftime,
            duration: self.duration,
            notes: &self.notes,
            metadata: &self.metadata,
            packages: &self.packages,
            status: self.status(),
            recorded_by: &self.recorded_by,
        }
        .serialize(serializer)
    }
}

/// One package deployed (or to be deployed) in a release; its JSON is the Orlo face's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// The ledger's id for the package.
    pub id: PackageId,
    /// The release it belongs to.
    pub release_id: ReleaseId,
    /// The package name.
    pub name: String,
    /// The version deployed.
    pub version: String,
    /// Where the deployment stands.
    pub status: PackageStatus,
    /// Whether this deployment rolls back to an earlier version.
    #[serde(default)]
    pub rollback: bool,
    /// A link to the changes it brings.
    #[serde(default)]
    pub diff_url: Option<String>,
    /// When the deployment started.
    #[serde(default, with = "timestamp::orlo::option")]
    pub stime: Option<OffsetDateTime>,
    /// When it stopped.
    #[serde(default, with = "timestamp::orlo::option")]
    pub ftime: Option<OffsetDateTime>,
    /// Whole seconds from `stime` to `ftime`.
    #[serde(default)]
    pub duration: Option<i64>,
}

/// A release about to be recorded, checked: a user, no empty platform names, times in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    /// A fresh id for the release.
    pub id: ReleaseId,
    /// The user the client reports as doing the release.
    pub user: String,
    /// The team doing it, if any.
    pub team: Option<String>,
    /// The platforms it is rolled out to: trimmed, non-empty, without repeats.
    pub platforms: Vec<String>,
    /// External references: tickets, change requests, links.
    pub references: Vec<String>,
    /// Free-text notes, oldest first.
    pub notes: Vec<String>,
    /// String metadata.
    pub metadata: Metadata,
    /// When the release started, at storage precision.
    pub stime: OffsetDateTime,
    /// When it stopped, if it has; never before `stime`.
    pub ftime: Option<OffsetDateTime>,
    /// The packages to record with it.
    pub packages: Vec<NewPackage>,
    /// The authenticated caller recording it, when there is one.
    pub recorded_by: Option<String>,
    /// Where to POST the release whenever its status changes (checked by the face that takes
    /// it: an http(s) URL to an address webhooks may reach).
    pub callback: Option<String>,
}

impl NewRelease {
    /// A release started at `stime` by `user` on `platforms`, with nothing else yet.
    ///
    /// An empty team is no team (Orlo stores it only when it is non-empty). Platform names are
    /// trimmed, must not be empty, and repeats are dropped. The user and platforms follow the
    /// input policy ([`input`]); the number of platforms is checked before any is read.
    pub fn new(user: &str, platforms: Vec<String>, stime: OffsetDateTime) -> DomainResult<Self> {
        let user = user.trim();
        if user.is_empty() {
            return Err(DomainError::field("user", "must not be empty"));
        }
        input::check("user", user, TextKind::Name)?;
        input::check_count("platforms", platforms.len())?;
        let mut seen: HashSet<String> = HashSet::with_capacity(platforms.len());
        let mut unique: Vec<String> = Vec::with_capacity(platforms.len());
        for platform in platforms {
            let platform = platform.trim();
            if platform.is_empty() {
                return Err(DomainError::field(
                    "platforms",
                    "platform names must not be empty",
                ));
            }
            input::check("platforms", platform, TextKind::Name)?;
            if seen.insert(platform.to_owned()) {
                unique.push(platform.to_owned());
            }
        }
        Ok(Self {
            id: ReleaseId::new(),
            user: user.to_owned(),
            team: None,
            platforms: unique,
            references: Vec::new(),
            notes: Vec::new(),
            metadata: Metadata::new(),
            stime: timestamp::to_storage_precision(stime),
            ftime: None,
            packages: Vec::new(),
            recorded_by: None,
            callback: None,
        })
    }

    /// Sets the team; blank means none.
    pub fn with_team(mut self, team: Option<&str>) -> Self {
        self.team = team
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        self
    }

    /// Sets the finish time; it must not be before the start.
    pub fn finished_at(mut self, ftime: OffsetDateTime) -> DomainResult<Self> {
        if ftime < self.stime {
            return Err(DomainError::field("ftime", "must not be before stime"));
        }
        self.ftime = Some(timestamp::to_storage_precision(ftime));
        Ok(self)
    }

    /// Whole seconds the release took, when it has finished.
    pub fn duration(&self) -> Option<i64> {
        self.ftime
            .map(|f| timestamp::seconds_between(self.stime, f))
    }

    /// Checks everything set after [`NewRelease::new`] against the input policy: the team,
    /// references, notes, metadata and packages. Writers call it before storing the release.
    pub fn check_input(&self) -> DomainResult<()> {
        input::check("user", &self.user, TextKind::Name)?;
        input::check_opt("team", self.team.as_deref(), TextKind::Name)?;
        input::check_list("platforms", &self.platforms, TextKind::Name)?;
        input::check_list("references", &self.references, TextKind::Url)?;
        input::check_list("notes", &self.notes, TextKind::Text)?;
        check_metadata(&self.metadata)?;
        input::check_count("packages", self.packages.len())?;
        self.packages.iter().try_for_each(NewPackage::check_input)
    }
}

/// Checks metadata against the input policy: at most [`input::MAX_LIST_ITEMS`] keys, keys are
/// names and values free text.
pub fn check_metadata(metadata: &Metadata) -> DomainResult<()> {
    input::check_count("metadata", metadata.len())?;
    metadata.iter().try_for_each(|(key, value)| {
        input::check("metadata", key, TextKind::Name)?;
        input::check("metadata", value, TextKind::Text)
    })
}

/// Checks one note against the input policy.
pub fn check_note(note: &str) -> DomainResult<()> {
    input::check("note", note, TextKind::Text)
}

/// A package about to be added to a release.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPackage {
    /// A fresh id for the package.
    pub id: PackageId,
    /// The package name.
    pub name: String,
    /// The version deployed.
    pub version: String,
    /// Whether this deployment rolls back to an earlier version.
    pub rollback: bool,
    /// A link to the changes it brings.
    pub diff_url: Option<String>,
    /// Where the deployment stands.
    pub status: PackageStatus,
    /// When the deployment started.
    pub stime: Option<OffsetDateTime>,
    /// When it stopped.
    pub ftime: Option<OffsetDateTime>,
}

impl NewPackage {
    /// A package that has not started yet.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            id: PackageId::new(),
            name: name.to_owned(),
            version: version.to_owned(),
            rollback: false,
            diff_url: None,
            status: PackageStatus::NotStarted,
            stime: None,
            ftime: None,
        }
    }

    /// A package recorded after the fact (import): its status and times as they were.
    pub fn with_history(
        mut self,
        status: PackageStatus,
        stime: Option<OffsetDateTime>,
        ftime: Option<OffsetDateTime>,
    ) -> DomainResult<Self> {
        if let (Some(s), Some(f)) = (stime, ftime) {
            if f < s {
                return Err(DomainError::field("ftime", "must not be before stime"));
            }
        }
        self.status = status;
        self.stime = stime.map(timestamp::to_storage_precision);
        self.ftime = ftime.map(timestamp::to_storage_precision);
        Ok(self)
    }

    /// Whole seconds the package took, when both times are known.
    pub fn duration(&self) -> Option<i64> {
        Some(timestamp::seconds_between(self.stime?, self.ftime?))
    }

    /// Checks the name, version and diff URL against the input policy.
    pub fn check_input(&self) -> DomainResult<()> {
        input::check("name", &self.name, TextKind::Name)?;
        input::check("version", &self.version, TextKind::Name)?;
        input::check_opt("diff_url", self.diff_url.as_deref(), TextKind::Url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2015-12-17 17:02:04 UTC);

    fn package(status: PackageStatus) -> Package {
        Package {
            id: PackageId::new(),
            release_id: ReleaseId::new(),
            name: "web".into(),
            version: "1.0".into(),
            status,
            rollback: false,
            diff_url: None,
            stime: None,
            ftime: None,
            duration: None,
        }
    }

    #[test]
    fn new_release_requires_a_user_and_cleans_platforms_and_team() {
        assert!(NewRelease::new("  ", vec!["site1".into()], T0).is_err());
        assert!(NewRelease::new("alice", vec![" ".into()], T0).is_err());
        let release = NewRelease::new(
            " alice ",
            vec!["site1".into(), " site1".into(), "site2".into()],
            T0,
        )
        .expect("valid release")
        .with_team(Some(""));
        assert_eq!(release.user, "alice");
        assert_eq!(release.platforms, ["site1", "site2"]);
        assert_eq!(release.team, None);
        assert_eq!(
            release.with_team(Some("A-Team")).team.as_deref(),
            Some("A-Team")
        );
    }

    #[test]
    fn the_input_policy_holds_for_every_part_of_a_release() {
        let many: Vec<String> = (0..100_000).map(|n| format!("p{n}")).collect();
        let started = std::time::Instant::now();
        let err = NewRelease::new("alice", many, T0).expect_err("too many platforms");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert!(err.to_string().starts_with("platforms: "), "{err}");
        assert!(NewRelease::new("a\0b", vec![], T0).is_err());
        assert!(NewRelease::new(&"u".repeat(256), vec![], T0).is_err());
        assert!(NewRelease::new("alice", vec!["a\u{1}".into()], T0).is_err());

        let base = NewRelease::new("alice", vec!["site1".into()], T0).expect("valid");
        assert_eq!(base.check_input(), Ok(()));
        let refused = |release: NewRelease, field: &str| {
            let err = release.check_input().expect_err("refused");
            assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
        };
        refused(base.clone().with_team(Some(&"t".repeat(300))), "team");
        let mut r = base.clone();
        r.notes = vec!["ok\nfine".into(), "bad\0".into()];
        refused(r, "notes");
        let mut r = base.clone();
        r.metadata.insert("k\0".into(), "v".into());
        refused(r, "metadata");
        let mut r = base.clone();
        r.packages = vec![NewPackage::new(&"n".repeat(256), "1.0")];
        refused(r, "name");
        let mut r = base;
        r.references = vec!["x".to_owned(); 1_001];
        refused(r, "references");
    }

    #[test]
    fn finish_time_must_follow_start_and_gives_the_duration() {
        let release = NewRelease::new("alice", vec![], T0).expect("valid release");
        assert!(release
            .clone()
            .finished_at(T0 - time::Duration::SECOND)
            .is_err());
        let done = release
            .finished_at(T0 + time::Duration::days(1))
            .expect("in order");
        assert_eq!(done.duration(), Some(86_400));
    }

    #[test]
    fn imported_packages_keep_their_history() {
        let pkg = NewPackage::new("web", "1.0")
            .with_history(
                PackageStatus::Successful,
                Some(T0),
                Some(T0 + time::Duration::seconds(20)),
            )
            .expect("in order");
        assert_eq!(pkg.duration(), Some(20));
        assert!(NewPackage::new("web", "1.0")
            .with_history(
                PackageStatus::Failed,
                Some(T0),
                Some(T0 - time::Duration::SECOND)
            )
            .is_err());
        assert_eq!(NewPackage::new("web", "1.0").duration(), None);
    }

    #[test]
    fn release_status_comes_from_its_packages() {
        let mut release = Release {
            id: ReleaseId::new(),
            user: "alice".into(),
            team: None,
            platforms: vec![],
            references: vec![],
            stime: T0,
            ftime: None,
            duration: None,
            notes: vec![],
            metadata: Metadata::new(),
            packages: vec![],
            recorded_by: None,
        };
        assert_eq!(release.status(), None);
        release.packages = vec![
            package(PackageStatus::Successful),
            package(PackageStatus::InProgress),
        ];
        assert_eq!(release.status(), Some(PackageStatus::InProgress));
    }
}
