//! Deployment status rules: what a package may do next, and what a release's status is.
//!
//! A package goes NOT_STARTED → IN_PROGRESS → SUCCESSFUL | FAILED. Starting again is allowed from
//! any state (a retry or a redeploy resets the start time, as Orlo does); stopping needs a package
//! that has started; nothing goes back to NOT_STARTED.
//!
//! A release has no status of its own: it is derived from its packages by the rule Orlo documents
//! (FAILED if any package failed, else IN_PROGRESS if any is in progress, else SUCCESSFUL or
//! NOT_STARTED when every package has that value, else none). Orlo's own query lets a release with
//! both an IN_PROGRESS and a FAILED package match IN_PROGRESS too (its bug B8); shiplog follows the
//! documentation, so every release has at most one status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// Where one package deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PackageStatus {
    /// Recorded, not begun.
    NotStarted,
    /// Being deployed.
    InProgress,
    /// Deployed.
    Successful,
    /// The deployment failed.
    Failed,
}

impl PackageStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PackageStatus; 4] = [
        Self::NotStarted,
        Self::InProgress,
        Self::Successful,
        Self::Failed,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "NOT_STARTED",
            Self::InProgress => "IN_PROGRESS",
            Self::Successful => "SUCCESSFUL",
            Self::Failed => "FAILED",
        }
    }

    /// True once the deployment has finished, well or badly.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Successful | Self::Failed)
    }

    /// Checks that a package in this status may move to `to`, and returns `to`.
    pub fn transition(self, to: PackageStatus) -> Result<PackageStatus, DomainError> {
        let allowed = match to {
            Self::NotStarted => false,
            Self::InProgress => true,
            Self::Successful | Self::Failed => self != Self::NotStarted,
        };
        if allowed {
            Ok(to)
        } else {
            Err(DomainError::InvalidTransition { from: self, to })
        }
    }
}

impl fmt::Display for PackageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageStatus {
    type Err = DomainError;

    /// Case-sensitive, as Orlo's status check is.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| DomainError::InvalidStatus(s.to_owned()))
    }
}

/// The status of a release, derived from its packages. It uses the package vocabulary.
pub struct ReleaseStatus;

impl ReleaseStatus {
    /// The status of a release whose packages have these statuses; `None` for a release with no
    /// packages, or with a mix of NOT_STARTED and SUCCESSFUL packages only.
    pub fn derive(statuses: impl IntoIterator<Item = PackageStatus>) -> Option<PackageStatus> {
        let (mut any, mut failed, mut in_progress, mut successful, mut not_started) =
            (false, false, false, false, false);
        for status in statuses {
            any = true;
            match status {
                PackageStatus::Failed => failed = true,
                PackageStatus::InProgress => in_progress = true,
                PackageStatus::Successful => successful = true,
                PackageStatus::NotStarted => not_started = true,
            }
        }
        match () {
            _ if !any => None,
            _ if failed => Some(PackageStatus::Failed),
            _ if in_progress => Some(PackageStatus::InProgress),
            _ if successful && !not_started => Some(PackageStatus::Successful),
            _ if not_started && !successful => Some(PackageStatus::NotStarted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PackageStatus::{Failed, InProgress, NotStarted, Successful};
    use super::*;

    #[test]
    fn status_names_round_trip_and_are_case_sensitive() {
        for status in PackageStatus::ALL {
            assert_eq!(status.as_str().parse::<PackageStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_string(&status).expect("serialises"),
                format!("\"{status}\"")
            );
        }
        let err = "successful".parse::<PackageStatus>().expect_err("refused");
        assert_eq!(
            err.to_string(),
            "Invalid package status, successful is not in ['NOT_STARTED', 'IN_PROGRESS', 'SUCCESSFUL', 'FAILED']"
        );
    }

    #[test]
    fn every_transition_is_either_allowed_or_refused_as_specified() {
        let allowed = |from: PackageStatus, to: PackageStatus| match (from, to) {
            (_, NotStarted) => false,
            (_, InProgress) => true,
            (NotStarted, _) => false,
            _ => true,
        };
        for from in PackageStatus::ALL {
            for to in PackageStatus::ALL {
                let result = from.transition(to);
                assert_eq!(result.is_ok(), allowed(from, to), "{from} -> {to}");
                if let Ok(next) = result {
                    assert_eq!(next, to);
                }
            }
        }
    }

    #[test]
    fn refusals_explain_themselves() {
        assert_eq!(
            NotStarted
                .transition(Successful)
                .expect_err("refused")
                .to_string(),
            "Can not stop a package which has not been started"
        );
        assert_eq!(
            NotStarted
                .transition(Failed)
                .expect_err("refused")
                .to_string(),
            "Can not stop a package which has not been started"
        );
        assert_eq!(
            Successful
                .transition(NotStarted)
                .expect_err("refused")
                .to_string(),
            "A package can not go back to NOT_STARTED"
        );
    }

    #[test]
    fn finished_means_successful_or_failed() {
        assert!(!NotStarted.is_finished());
        assert!(!InProgress.is_finished());
        assert!(Successful.is_finished());
        assert!(Failed.is_finished());
    }

    /// The documented rule, written independently as a reference for the exhaustive test below.
    fn documented_rule(statuses: &[PackageStatus]) -> Option<PackageStatus> {
        if statuses.is_empty() {
            None
        } else if statuses.contains(&Failed) {
            Some(Failed)
        } else if statuses.contains(&InProgress) {
            Some(InProgress)
        } else if statuses.iter().all(|s| *s == Successful) {
            Some(Successful)
        } else if statuses.iter().all(|s| *s == NotStarted) {
            Some(NotStarted)
        } else {
            None
        }
    }

    #[test]
    fn release_status_for_every_combination_of_up_to_three_packages() {
        let mut combos: Vec<Vec<PackageStatus>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<PackageStatus>> = combos
                .iter()
                .filter(|c| c.len() == combos.last().map_or(0, Vec::len))
                .flat_map(|c| {
                    PackageStatus::ALL.into_iter().map(move |s| {
                        let mut next = c.clone();
                        next.push(s);
                        next
                    })
                })
                .collect();
            combos.extend(longer);
        }
        assert_eq!(combos.len(), 1 + 4 + 16 + 64);
        for combo in &combos {
            assert_eq!(
                ReleaseStatus::derive(combo.iter().copied()),
                documented_rule(combo),
                "{combo:?}"
            );
        }
    }

    #[test]
    fn release_status_examples_from_the_orlo_research() {
        assert_eq!(ReleaseStatus::derive([]), None);
        assert_eq!(ReleaseStatus::derive([NotStarted, Successful]), None);
        // Orlo's bug B8 would also call this IN_PROGRESS; the documented rule says FAILED wins.
        assert_eq!(ReleaseStatus::derive([InProgress, Failed]), Some(Failed));
        assert_eq!(
            ReleaseStatus::derive([Successful, Successful]),
            Some(Successful)
        );
        assert_eq!(ReleaseStatus::derive([NotStarted]), Some(NotStarted));
        assert_eq!(
            ReleaseStatus::derive([NotStarted, InProgress, Successful]),
            Some(InProgress)
        );
    }
}
