//! Releases and packages: what the ledger records about one deployment.
//!
//! A release is one change rolled out by a user (and team) to some platforms; it holds the
//! packages deployed in it, free-text notes, string metadata and external references. Its status
//! is never stored: it is derived from the packages ([`ReleaseStatus::derive`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{DomainError, DomainResult};
use crate::ids::{PackageId, ReleaseId};
use crate::status::{PackageStatus, ReleaseStatus};
use crate::timestamp;

/// Release metadata: string keys to string values, merged key by key.
pub type Metadata = BTreeMap<String, String>;

/// A recorded release with everything it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: ReleaseId,
    pub user: String,
    pub team: Option<String>,
    pub platforms: Vec<String>,
    pub references: Vec<String>,
    pub stime: OffsetDateTime,
    pub ftime: Option<OffsetDateTime>,
    /// Whole seconds from `stime` to `ftime`, fixed when the release stops.
    pub duration: Option<i64>,
    pub notes: Vec<String>,
    pub metadata: Metadata,
    pub packages: Vec<Package>,
    /// The authenticated caller who recorded the release (`user` is what the client reports).
    pub recorded_by: Option<String>,
}

impl Release {
    /// The status derived from this release's packages (see [`ReleaseStatus::derive`]).
    pub fn status(&self) -> Option<PackageStatus> {
        ReleaseStatus::derive(self.packages.iter().map(|p| p.status))
    }
}

/// One package deployed (or to be deployed) in a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub id: PackageId,
    pub release_id: ReleaseId,
    pub name: String,
    pub version: String,
    pub status: PackageStatus,
    pub rollback: bool,
    pub diff_url: Option<String>,
    pub stime: Option<OffsetDateTime>,
    pub ftime: Option<OffsetDateTime>,
    pub duration: Option<i64>,
}

/// A release about to be recorded, checked: a user, no empty platform names, times in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    pub id: ReleaseId,
    pub user: String,
    pub team: Option<String>,
    pub platforms: Vec<String>,
    pub references: Vec<String>,
    pub notes: Vec<String>,
    pub metadata: Metadata,
    pub stime: OffsetDateTime,
    pub ftime: Option<OffsetDateTime>,
    pub packages: Vec<NewPackage>,
    /// The authenticated caller recording it, when there is one.
    pub recorded_by: Option<String>,
}

impl NewRelease {
    /// A release started at `stime` by `user` on `platforms`, with nothing else yet.
    ///
    /// An empty team is no team (Orlo stores it only when it is non-empty). Platform names are
    /// trimmed, must not be empty, and repeats are dropped.
    pub fn new(user: &str, platforms: Vec<String>, stime: OffsetDateTime) -> DomainResult<Self> {
        let user = user.trim();
        if user.is_empty() {
            return Err(DomainError::field("user", "must not be empty"));
        }
        let mut unique: Vec<String> = Vec::with_capacity(platforms.len());
        for platform in platforms {
            let platform = platform.trim();
            if platform.is_empty() {
                return Err(DomainError::field(
                    "platforms",
                    "platform names must not be empty",
                ));
            }
            if !unique.iter().any(|p| p == platform) {
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
}

/// A package about to be added to a release.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPackage {
    pub id: PackageId,
    pub name: String,
    pub version: String,
    pub rollback: bool,
    pub diff_url: Option<String>,
    pub status: PackageStatus,
    pub stime: Option<OffsetDateTime>,
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
