//! Required signoffs: which roles, and how many users holding each, must sign off a change
//! before it may be made, decided as Balrog decides it (see docs/balrog.md, "Governance").
//!
//! Two tables hold the requirements: per product and channel (guarding rules, the releases they
//! map, and emergency shutoffs) and per product (guarding permissions). The functions here take
//! the rows a change could be subject to and the versions of the object it touches (the stored
//! one and the new one: a change that moves a rule out of a guarded channel needs signoffs as
//! much as one that moves it in) and answer a [`RequiredSignoffs`]. They are pure: the storage
//! crate reads the rows inside the write's transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::permission::{PermissionName, PermissionOptions};

/// What a change needs: for each role, how many distinct users holding it must sign off.
/// Serialized as Balrog shows it, `{"releng": 2, "relman": 1}`; `{}` needs nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequiredSignoffs(BTreeMap<String, i64>);

/// Why a change may not be made yet with the signoffs it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignoffShortfall {
    /// Signoffs are required and none were given (every direct change that needs any).
    #[error("No Signoffs given")]
    NoSignoffs,
    /// Fewer signoffs than required for this role.
    #[error("Not enough signoffs for role '{0}'")]
    NotEnough(String),
}

impl RequiredSignoffs {
    /// Nothing required.
    pub fn none() -> RequiredSignoffs {
        RequiredSignoffs::default()
    }

    /// Adds a requirement; when a role is already required, the larger count wins (two rows
    /// asking for the same role never add up).
    pub fn require(&mut self, role: &str, count: i64) {
        let entry = self.0.entry(role.to_owned()).or_insert(0);
        *entry = (*entry).max(count);
    }

    /// Adds every requirement of `other` (larger count wins).
    pub fn merge(&mut self, other: &RequiredSignoffs) {
        for (role, count) in &other.0 {
            self.require(role, *count);
        }
    }

    /// Whether the change needs no signoff at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many signoffs `role` needs (0 when it is not required).
    pub fn count(&self, role: &str) -> i64 {
        self.0.get(role).copied().unwrap_or(0)
    }

    /// The roles and counts, by role name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(role, count)| (role.as_str(), *count))
    }

    /// Whether signoffs made with `roles` (one entry per signoff: the role its user signed with)
    /// satisfy every requirement. Balrog's order of answers: no signoffs at all, then the first
    /// role (by name) that is short.
    pub fn verify<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), SignoffShortfall> {
        if self.is_empty() {
            return Ok(());
        }
        let mut given: BTreeMap<&str, i64> = BTreeMap::new();
        for role in roles {
            *given.entry(role).or_insert(0) += 1;
        }
        if given.is_empty() {
            return Err(SignoffShortfall::NoSignoffs);
        }
        for (role, required) in &self.0 {
            if given.get(role.as_str()).copied().unwrap_or(0) < *required {
                return Err(SignoffShortfall::NotEnough(role.clone()));
            }
        }
        Ok(())
    }
}

impl FromIterator<(String, i64)> for RequiredSignoffs {
    fn from_iter<I: IntoIterator<Item = (String, i64)>>(iter: I) -> Self {
        let mut required = RequiredSignoffs::none();
        for (role, count) in iter {
            required.require(&role, count);
        }
        required
    }
}

/// One row of `/required_signoffs/product`: changes to `product` on `channel` need
/// `signoffs_required` signoffs by users holding `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRequiredSignoff {
    /// The guarded product.
    pub product: String,
    /// The guarded channel, by exact name.
    pub channel: String,
    /// The role signers must hold.
    pub role: String,
    /// How many distinct users holding `role` must sign off.
    pub signoffs_required: i64,
    /// Optimistic-locking version of the row.
    pub data_version: i64,
}

/// One row of `/required_signoffs/permissions`: changes to permissions covering `product` need
/// `signoffs_required` signoffs by users holding `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionsRequiredSignoff {
    /// The product whose permissions are guarded.
    pub product: String,
    /// The role signers must hold.
    pub role: String,
    /// How many distinct users holding `role` must sign off.
    pub signoffs_required: i64,
    /// Optimistic-locking version of the row.
    pub data_version: i64,
}

/// The product and channel of one version of a rule (or of anything scoped like one). `None`
/// is a rule without that column, which matches every product or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleScope<'a> {
    /// The rule's product; `None` matches every product.
    pub product: Option<&'a str>,
    /// The rule's channel (a name or a glob); `None` matches every channel.
    pub channel: Option<&'a str>,
}

impl<'a> RuleScope<'a> {
    /// The scope of a rule's columns.
    pub fn of(fields: &'a crate::balrog::RuleFields) -> RuleScope<'a> {
        RuleScope {
            product: fields.product.as_deref(),
            channel: fields.channel.as_deref(),
        }
    }
}

/// One version of a permission: which permission, and the products its options limit it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionScope<'a> {
    /// Which permission.
    pub permission: PermissionName,
    /// Its options; only `products` matters here.
    pub options: &'a PermissionOptions,
}

/// Whether a rule's `channel` covers the required-signoff row's `guarded` channel, as Balrog
/// matches them: the same name, or a glob ending in `*` (at least three characters long, the
/// star only at the end) whose prefix starts the guarded name. So `rel*` covers `release`, and
/// `release*` covers `release` and `release-cck`; a glob on the guarded side is a plain name.
pub fn channel_covers(channel: &str, guarded: &str) -> bool {
    match channel.strip_suffix('*') {
        Some(prefix) if channel.len() >= 3 => guarded.starts_with(prefix),
        Some(_) => false,
        None => channel == guarded,
    }
}

fn covers(scope: &RuleScope<'_>, row: &ProductRequiredSignoff) -> bool {
    scope.product.is_none_or(|product| product == row.product)
        && scope
            .channel
            .is_none_or(|channel| channel_covers(channel, &row.channel))
}

/// What a rule change needs: every product row covered by any of the rule's `versions` (the
/// stored rule and the new one; one of them for an insert or a delete). A rule without a
/// product covers every product; without a channel, every channel.
pub fn for_rule(rows: &[ProductRequiredSignoff], versions: &[RuleScope<'_>]) -> RequiredSignoffs {
    rows.iter()
        .filter(|row| versions.iter().any(|scope| covers(scope, row)))
        .map(|row| (row.role.clone(), row.signoffs_required))
        .collect()
}

/// What a change to a release's contents needs: releases serve nobody on their own, so it is
/// what a change to each rule mapping the release (by `mapping` or `fallbackMapping`) would
/// need. `rules` are the scopes of those rules.
pub fn for_release(rows: &[ProductRequiredSignoff], rules: &[RuleScope<'_>]) -> RequiredSignoffs {
    for_rule(rows, rules)
}

/// What unsetting a release's `read_only` flag needs (setting it is always direct): as for a
/// change of its contents when rules map it; when none does, every requirement of the
/// release's `product`, whatever the channel (the release is about to become writable, and any
/// rule of the product may point at it next).
pub fn for_read_only_unset(
    rows: &[ProductRequiredSignoff],
    rules: &[RuleScope<'_>],
    product: &str,
) -> RequiredSignoffs {
    let through_rules = for_release(rows, rules);
    if !through_rules.is_empty() {
        return through_rules;
    }
    rows.iter()
        .filter(|row| row.product == product)
        .map(|row| (row.role.clone(), row.signoffs_required))
        .collect()
}

/// What lifting (deleting) an emergency shutoff needs: the product rows of its product whose
/// channel it covers. Creating a shutoff never needs signoffs: stopping updates must stay fast.
pub fn for_shutoff_delete(
    rows: &[ProductRequiredSignoff],
    product: &str,
    channel: &str,
) -> RequiredSignoffs {
    for_rule(
        rows,
        &[RuleScope {
            product: Some(product),
            channel: Some(channel),
        }],
    )
}

/// What a permission change needs: for each version (stored and new), the permission rows of
/// the products its options list; a permission that takes no `products` option, or lists none,
/// covers every product, so every permission row applies.
pub fn for_permission(
    rows: &[PermissionsRequiredSignoff],
    versions: &[PermissionScope<'_>],
) -> RequiredSignoffs {
    let mut required = RequiredSignoffs::none();
    for version in versions {
        let products = version
            .options
            .products
            .as_deref()
            .filter(|products| version.permission.takes_products() && !products.is_empty());
        for row in rows {
            if products.is_none_or(|products| products.contains(&row.product)) {
                required.require(&row.role, row.signoffs_required);
            }
        }
    }
    required
}

/// What a change to a product required-signoff row needs: the rows already guarding the same
/// product and channel (whatever their role), in any version the change touches. A new row for
/// an unguarded channel is direct; changing or deleting a row always meets at least itself.
pub fn for_product_required_signoff(
    rows: &[ProductRequiredSignoff],
    versions: &[(&str, &str)],
) -> RequiredSignoffs {
    rows.iter()
        .filter(|row| {
            versions
                .iter()
                .any(|(product, channel)| row.product == *product && row.channel == *channel)
        })
        .map(|row| (row.role.clone(), row.signoffs_required))
        .collect()
}

/// What a change to a permission required-signoff row needs: the rows already guarding the
/// same product's permissions.
pub fn for_permissions_required_signoff(
    rows: &[PermissionsRequiredSignoff],
    products: &[&str],
) -> RequiredSignoffs {
    rows.iter()
        .filter(|row| products.contains(&row.product.as_str()))
        .map(|row| (row.role.clone(), row.signoffs_required))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product_row(product: &str, channel: &str, role: &str, n: i64) -> ProductRequiredSignoff {
        ProductRequiredSignoff {
            product: product.into(),
            channel: channel.into(),
            role: role.into(),
            signoffs_required: n,
            data_version: 1,
        }
    }

    fn permission_row(product: &str, role: &str, n: i64) -> PermissionsRequiredSignoff {
        PermissionsRequiredSignoff {
            product: product.into(),
            role: role.into(),
            signoffs_required: n,
            data_version: 1,
        }
    }

    fn scope<'a>(product: Option<&'a str>, channel: Option<&'a str>) -> RuleScope<'a> {
        RuleScope { product, channel }
    }

    fn rows() -> Vec<ProductRequiredSignoff> {
        vec![
            product_row("Firefox", "release", "releng", 1),
            product_row("Firefox", "release", "relman", 1),
            product_row("Firefox", "beta", "releng", 2),
            product_row("Thunderbird", "release", "releng", 1),
        ]
    }

    #[test]
    fn serializes_as_balrog_shows_it() {
        let mut required = RequiredSignoffs::none();
        assert_eq!(serde_json::to_value(&required).expect("json"), json!({}));
        required.require("releng", 1);
        required.require("relman", 2);
        required.require("releng", 2);
        required.require("relman", 1);
        assert_eq!(
            serde_json::to_value(&required).expect("json"),
            json!({"releng": 2, "relman": 2}),
            "the larger count wins"
        );
    }

    #[test]
    fn globs_cover_guarded_channels_as_balrog_matches_them() {
        assert!(channel_covers("release", "release"));
        assert!(!channel_covers("release", "beta"));
        assert!(channel_covers("rel*", "release"));
        assert!(channel_covers("release*", "release-cck"));
        assert!(channel_covers("release*", "release"));
        assert!(!channel_covers("rel*", "beta"));
        assert!(
            !channel_covers("r*", "release"),
            "a glob needs 3 characters"
        );
        assert!(
            !channel_covers("release", "rel*"),
            "the guarded side is a name"
        );
        assert!(!channel_covers("re.*", "release"), "a dot is a dot");
    }

    #[test]
    fn a_rule_needs_what_any_of_its_versions_covers() {
        let rows = rows();
        let release = scope(Some("Firefox"), Some("release"));
        let nightly = scope(Some("Firefox"), Some("nightly"));
        assert!(for_rule(&rows, &[nightly]).is_empty());
        let required = for_rule(&rows, &[release]);
        assert_eq!(required.count("releng"), 1);
        assert_eq!(required.count("relman"), 1);
        // Moving a rule out of a guarded channel needs the signoffs of where it was.
        assert_eq!(for_rule(&rows, &[release, nightly]), required);
        // Moving it from release to beta needs both, the larger count per role.
        let both = for_rule(&rows, &[release, scope(Some("Firefox"), Some("beta"))]);
        assert_eq!(both.count("releng"), 2);
        assert_eq!(both.count("relman"), 1);
    }

    #[test]
    fn a_rule_without_channel_or_product_covers_them_all() {
        let rows = rows();
        let any_channel = for_rule(&rows, &[scope(Some("Firefox"), None)]);
        assert_eq!(any_channel.count("releng"), 2);
        assert_eq!(any_channel.count("relman"), 1);
        let glob = for_rule(&rows, &[scope(Some("Firefox"), Some("rel*"))]);
        assert_eq!(glob.count("releng"), 1);
        assert_eq!(glob.count("relman"), 1);
        let any_product = for_rule(&rows, &[scope(None, Some("release"))]);
        assert_eq!(any_product.count("releng"), 1);
        let everything = for_rule(&rows, &[scope(None, None)]);
        assert_eq!(everything.count("releng"), 2);
        assert!(for_rule(&rows, &[scope(Some("Fennec"), None)]).is_empty());
    }

    #[test]
    fn a_release_needs_what_the_rules_mapping_it_need() {
        let rows = rows();
        assert!(for_release(&rows, &[]).is_empty());
        let required = for_release(
            &rows,
            &[
                scope(Some("Firefox"), Some("nightly")),
                scope(Some("Thunderbird"), Some("release")),
            ],
        );
        assert_eq!(required.count("releng"), 1);
        assert_eq!(required.count("relman"), 0);
    }

    #[test]
    fn unsetting_read_only_falls_back_to_the_whole_product() {
        let rows = rows();
        let mapped =
            for_read_only_unset(&rows, &[scope(Some("Firefox"), Some("release"))], "Firefox");
        assert_eq!(mapped.count("releng"), 1);
        let unmapped = for_read_only_unset(&rows, &[], "Firefox");
        assert_eq!(unmapped.count("releng"), 2);
        assert_eq!(unmapped.count("relman"), 1);
        assert!(for_read_only_unset(&rows, &[], "Fennec").is_empty());
    }

    #[test]
    fn lifting_a_shutoff_needs_its_channels_signoffs() {
        let rows = rows();
        assert_eq!(
            for_shutoff_delete(&rows, "Firefox", "beta").count("releng"),
            2
        );
        assert!(for_shutoff_delete(&rows, "Firefox", "aurora").is_empty());
        assert!(for_shutoff_delete(&rows, "Fennec", "release").is_empty());
    }

    #[test]
    fn permissions_need_their_products_signoffs_and_unrestricted_ones_all() {
        let rows = vec![
            permission_row("Firefox", "releng", 1),
            permission_row("Thunderbird", "relman", 2),
        ];
        let firefox = PermissionOptions {
            products: Some(vec!["Firefox".into()]),
            actions: None,
        };
        let unrestricted = PermissionOptions::default();
        let rule_firefox = PermissionScope {
            permission: PermissionName::Rule,
            options: &firefox,
        };
        let required = for_permission(&rows, &[rule_firefox]);
        assert_eq!(required.count("releng"), 1);
        assert_eq!(required.count("relman"), 0);
        let all = for_permission(
            &rows,
            &[PermissionScope {
                permission: PermissionName::Rule,
                options: &unrestricted,
            }],
        );
        assert_eq!((all.count("releng"), all.count("relman")), (1, 2));
        // `permission` takes no products: it covers every product.
        let granting = for_permission(
            &rows,
            &[PermissionScope {
                permission: PermissionName::Permission,
                options: &unrestricted,
            }],
        );
        assert_eq!(granting, all);
        let fennec = PermissionOptions {
            products: Some(vec!["Fennec".into()]),
            actions: None,
        };
        assert!(for_permission(
            &rows,
            &[PermissionScope {
                permission: PermissionName::Release,
                options: &fennec,
            }]
        )
        .is_empty());
    }

    #[test]
    fn required_signoffs_guard_themselves_once_they_apply() {
        let rows = rows();
        assert!(for_product_required_signoff(&rows, &[("Firefox", "nightly")]).is_empty());
        let release = for_product_required_signoff(&rows, &[("Firefox", "release")]);
        assert_eq!((release.count("releng"), release.count("relman")), (1, 1));
        assert_eq!(
            for_product_required_signoff(&rows, &[("Firefox", "rel*")]),
            RequiredSignoffs::none(),
            "no globbing between required-signoff rows"
        );
        let permission_rows = vec![permission_row("Firefox", "releng", 2)];
        assert_eq!(
            for_permissions_required_signoff(&permission_rows, &["Firefox"]).count("releng"),
            2
        );
        assert!(for_permissions_required_signoff(&permission_rows, &["Fennec"]).is_empty());
    }

    #[test]
    fn verification_answers_as_balrog_does() {
        let mut required = RequiredSignoffs::none();
        assert_eq!(required.verify([]), Ok(()));
        required.require("releng", 2);
        required.require("relman", 1);
        assert_eq!(required.verify([]), Err(SignoffShortfall::NoSignoffs));
        assert_eq!(
            required.verify(["releng", "relman"]),
            Err(SignoffShortfall::NotEnough("releng".into()))
        );
        assert_eq!(required.verify(["releng", "releng", "relman"]), Ok(()));
        assert_eq!(
            SignoffShortfall::NotEnough("releng".into()).to_string(),
            "Not enough signoffs for role 'releng'"
        );
        assert_eq!(
            SignoffShortfall::NoSignoffs.to_string(),
            "No Signoffs given"
        );
    }
}
