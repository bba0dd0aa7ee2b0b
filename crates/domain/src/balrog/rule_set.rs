//! A compiled rule set and its evaluation: which rule wins for a client's query and which
//! release it is served, with Balrog's semantics.
//!
//! A [`RuleSet`] is compiled once from the stored rules, emergency shutoffs and named releases,
//! and then evaluated many times: every rule condition is parsed at compile time (in the
//! crate-private `matcher` module), rules are indexed by product and kept in winning order
//! (priority descending, then lowest rule_id), so [`RuleSet::evaluate`] reads only the rules of
//! the query's product and of no product, stops at the first match, and allocates nothing (but
//! for a partner `-sysaddon` channel's fallback). The dice roll of the background rate comes
//! from an injected [`RandomSource`], or, for a sticky rule and a client identifier, from
//! [`sticky_roll`]; whether the mapped release agrees to serve the client is the [`serving`]
//! policy's answer; a client whose `pin` the release is past gets the pinnable release
//! registered for the pin instead (see [`pin`](super::pin)), added with [`RuleSet::with_pins`].

use std::fmt;
use std::sync::Arc;

use super::allowlist::DomainAllowlist;
use super::dice::{sticky_roll, RandomSource};
use super::evaluation_error::EvaluationError;
use super::fast_map::FastMap;
use super::force_hosts::SpecialForceHosts;
use super::matcher::CompiledRule;
use super::named_release::NamedRelease;
use super::pin::{PinVersion, PinnableRelease};
use super::query::{Force, Query};
use super::rule::{Rule, UpdateType};
use super::serving::{self, Blocked, ReleaseFacts, Serve};
use super::shutoff::EmergencyShutoff;
use super::version::{Version, VersionScheme};
use crate::error::DomainResult;

/// Why a query was or was not served, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An emergency shutoff covers the product and channel.
    Shutoff,
    /// No rule matches the query.
    NoMatchingRule,
    /// The winning rule has no mapping; lower rules are not consulted.
    NoMapping,
    /// The winning rule's mapping is served.
    Served,
    /// `force=1` served the main mapping past a background rate.
    ServedForced,
    /// The background rate's dice sent the client to the fallback mapping.
    ServedFallback,
    /// `force=-1` asked for the fallback mapping.
    ServedFallbackForced,
    /// The dice left the client out and the rule has no fallback mapping.
    DroppedByBackgroundRate,
    /// `force=-1` asked for a fallback the rule does not have.
    DroppedNoFallback,
    /// The release the rule maps to does not exist.
    ReleaseMissing,
    /// The release's blob would not serve this client.
    Blocked(Blocked),
    /// The mapped release is newer than the client's pin, so the pinnable release registered
    /// for the pin is served instead.
    ServedPinned,
}

impl Reason {
    /// The reason in a sentence, as the evaluation endpoint and `shiplog rules eval` show it.
    pub fn describe(&self) -> &'static str {
        match self {
            Reason::Shutoff => "updates are shut off for this product and channel",
            Reason::NoMatchingRule => "no rule matches the query",
            Reason::NoMapping => "the winning rule maps to no release, so nothing is served",
            Reason::Served => "the winning rule's mapping is served",
            Reason::ServedForced => "force=1 serves the winning rule's mapping",
            Reason::ServedFallback => {
                "the background rate sent the client to the winning rule's fallback mapping"
            }
            Reason::ServedFallbackForced => "force=-1 serves the winning rule's fallback mapping",
            Reason::DroppedByBackgroundRate => {
                "the background rate left the client out and the winning rule has no fallback mapping"
            }
            Reason::DroppedNoFallback => {
                "force=-1 asked for a fallback mapping and the winning rule has none"
            }
            Reason::ReleaseMissing => "the mapped release does not exist",
            Reason::Blocked(blocked) => blocked.describe(),
            Reason::ServedPinned => {
                "the mapped release is newer than the client's pin, so the release pinned for it is served"
            }
        }
    }

    /// Whether a release is served.
    pub fn is_served(&self) -> bool {
        matches!(
            self,
            Reason::Served
                | Reason::ServedForced
                | Reason::ServedFallback
                | Reason::ServedFallbackForced
                | Reason::ServedPinned
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The outcome of one evaluation, borrowing from the rule set.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'s> {
    /// The winning rule, if any (none under a shutoff).
    pub rule: Option<&'s Rule>,
    /// The release actually served; `None` when nothing is.
    pub release: Option<&'s NamedRelease>,
    /// Why the release was or was not served.
    pub reason: Reason,
}

impl<'s> Decision<'s> {
    /// The name of the release served.
    pub fn mapping(&self) -> Option<&'s str> {
        self.release.map(|r| r.name.as_str())
    }

    /// The winning rule's update type (`minor` when there is none).
    pub fn update_type(&self) -> UpdateType {
        self.rule
            .map_or(UpdateType::Minor, |r| r.fields.update_type)
    }
}

/// The rules and shutoffs of one product, rule indexes in winning order.
#[derive(Debug, Clone, Default)]
struct ProductIndex {
    rules: Vec<usize>,
    shutoff_channels: Vec<Box<str>>,
    /// Whether this product's rules (or the product-less ones) hold a version no Mozilla
    /// version compares with; such a rule makes Balrog fail the whole query, so evaluation
    /// must look at every candidate, not only up to the winner.
    non_mozilla_versions: bool,
}

/// One product's pins: channel, then pin → the release's name. Nested maps keyed by borrowed
/// text, so a lookup allocates nothing.
type ChannelPins = FastMap<Box<str>, FastMap<PinVersion, Box<str>>>;

/// Rules, shutoffs and releases compiled for evaluation.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Every rule, in winning order: priority descending, then rule_id ascending.
    rules: Vec<CompiledRule>,
    products: FastMap<Box<str>, ProductIndex>,
    /// Rules without a product, which every query considers.
    any_product: Vec<usize>,
    any_product_non_mozilla: bool,
    /// Named releases, each with its blob read for the serve check.
    releases: FastMap<Box<str>, (NamedRelease, ReleaseFacts)>,
    shutoffs: Vec<EmergencyShutoff>,
    /// Pinnable releases: product, then channel, then pin → the release's name.
    pins: FastMap<Box<str>, ChannelPins>,
    /// The download hosts answers may name; `None` allows every URL.
    allowlist: Option<Arc<DomainAllowlist>>,
    /// URL prefixes whose patch URLs carry the client's `force`; `None`: no URL does.
    force_hosts: Option<Arc<SpecialForceHosts>>,
    /// The distinct `stickyBy` sources of the rules, for servers to look up in a request.
    sticky_sources: Vec<Box<str>>,
}

/// Two ascending index lists walked as one, in ascending order, without allocating.
struct Merged<'a> {
    a: &'a [usize],
    b: &'a [usize],
}

impl Iterator for Merged<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let side = if take_a { &mut self.a } else { &mut self.b };
        let (first, rest) = side.split_first()?;
        *side = rest;
        Some(*first)
    }
}

impl RuleSet {
    /// Compiles rules, shutoffs and the named releases rules may serve (and partial updates may
    /// come from). A rule whose buildID or memory condition is unusable is refused: the admin
    /// API never stores one, so it can only come from a hand-written file.
    pub fn compile(
        rules: &[Rule],
        shutoffs: &[EmergencyShutoff],
        releases: Vec<NamedRelease>,
    ) -> DomainResult<RuleSet> {
        let mut compiled = rules
            .iter()
            .map(CompiledRule::compile)
            .collect::<DomainResult<Vec<_>>>()?;
        compiled.sort_by(|a, b| {
            b.rule
                .fields
                .priority
                .cmp(&a.rule.fields.priority)
                .then(a.rule.rule_id.cmp(&b.rule.rule_id))
        });
        let mut set = RuleSet::default();
        for (index, rule) in compiled.iter().enumerate() {
            match &rule.rule.fields.product {
                Some(product) => {
                    let entry = set.products.entry(product.as_str().into()).or_default();
                    entry.rules.push(index);
                    entry.non_mozilla_versions |= rule.has_non_mozilla_version();
                }
                None => {
                    set.any_product.push(index);
                    set.any_product_non_mozilla |= rule.has_non_mozilla_version();
                }
            }
        }
        for entry in set.products.values_mut() {
            entry.non_mozilla_versions |= set.any_product_non_mozilla;
        }
        for shutoff in shutoffs {
            set.products
                .entry(shutoff.product.as_str().into())
                .or_insert_with(|| ProductIndex {
                    non_mozilla_versions: set.any_product_non_mozilla,
                    ..ProductIndex::default()
                })
                .shutoff_channels
                .push(shutoff.channel.as_str().into());
        }
        for rule in &compiled {
            if let Some(source) = &rule.rule.fields.sticky_by {
                if !set.sticky_sources.iter().any(|s| **s == **source) {
                    set.sticky_sources.push(source.as_str().into());
                }
            }
        }
        set.rules = compiled;
        set.shutoffs = shutoffs.to_vec();
        set.releases = releases
            .into_iter()
            .map(|r| {
                let facts = ReleaseFacts::read(&r.data);
                (r.name.as_str().into(), (r, facts))
            })
            .collect();
        Ok(set)
    }

    /// The set, with the pinnable releases `?pin=` may swap in. An entry whose pin is no
    /// `X.`/`X.Y.` can never be looked up (the admin API refuses to store one), so it is left out.
    pub fn with_pins(mut self, pins: &[PinnableRelease]) -> RuleSet {
        for pin in pins {
            let Ok(version) = PinVersion::parse(&pin.version) else {
                continue;
            };
            self.pins
                .entry(pin.product.as_str().into())
                .or_default()
                .entry(pin.channel.as_str().into())
                .or_default()
                .insert(version, pin.mapping.as_str().into());
        }
        self
    }

    /// The release pinned for `pin` of `product` on `channel`, if any.
    pub fn pinned_release(&self, product: &str, channel: &str, pin: &PinVersion) -> Option<&str> {
        self.pins.get(product)?.get(channel)?.get(pin).map(|m| &**m)
    }

    /// The set, answering only with URLs `allowlist` allows for the requesting product: a
    /// patch or add-on whose URL it does not allow is left out of the answer.
    pub fn with_allowlist(mut self, allowlist: Arc<DomainAllowlist>) -> RuleSet {
        self.allowlist = Some(allowlist);
        self
    }

    /// The set, passing a client's `force` on to patch URLs under `hosts` (Balrog's
    /// `SPECIAL_FORCE_HOSTS`).
    pub fn with_special_force_hosts(mut self, hosts: Arc<SpecialForceHosts>) -> RuleSet {
        self.force_hosts = Some(hosts);
        self
    }

    /// `url` as an answer to `force` names it: with `force=…` added on a special force host.
    pub fn pass_on_force(&self, url: String, force: Force) -> String {
        match &self.force_hosts {
            Some(hosts) => hosts.pass_on(url, force),
            None => url,
        }
    }

    /// Whether answers to `product` may name `url` (always, without an allow-list).
    pub fn allows_url(&self, url: &str, product: &str) -> bool {
        self.allowlist
            .as_ref()
            .is_none_or(|list| list.allows(url, product))
    }

    /// The `stickyBy` sources (`query:NAME`, `header:NAME`) some rule names: what a server
    /// looks up in a request to fill [`Query::client_ids`]. Empty when no rule is sticky, so a
    /// server without sticky rules does no extra work.
    pub fn sticky_sources(&self) -> &[Box<str>] {
        &self.sticky_sources
    }

    /// Whether some rule names `product` (rules without a product do not count: they would make
    /// every product known).
    pub fn knows_product(&self, product: &str) -> bool {
        self.products.contains_key(product)
    }

    /// How many rules the set holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The shutoffs the set was compiled with.
    pub fn shutoffs(&self) -> &[EmergencyShutoff] {
        &self.shutoffs
    }

    /// A named release, by name.
    pub fn release(&self, name: &str) -> Option<&NamedRelease> {
        self.releases.get(name).map(|(release, _)| release)
    }

    /// Evaluates a query: shutoffs, then the highest-priority matching rule (ties to the lowest
    /// rule_id), its mapping or — by the background rate or `force` — its fallback, and finally
    /// the release blob's own check that it is newer than the client.
    pub fn evaluate(
        &self,
        query: &Query<'_>,
        random: &mut impl RandomSource,
    ) -> Result<Decision<'_>, EvaluationError> {
        let nothing = |rule, reason| Decision {
            rule,
            release: None,
            reason,
        };
        let index = self.products.get(query.product);
        let channel = query.channel();
        let fallback = query.fallback_channel();
        if let Some(index) = index {
            if index
                .shutoff_channels
                .iter()
                .any(|c| &**c == channel || **c == *fallback)
            {
                return Ok(nothing(None, Reason::Shutoff));
            }
        }
        let scheme = VersionScheme::for_product(query.product);
        // Parsed once: rule conditions and the release's own check both compare with it.
        let client = Version::parse(query.version).ok();
        let Some(rule) = self.winner(query, index, scheme, client.as_ref(), &fallback)? else {
            return Ok(nothing(None, Reason::NoMatchingRule));
        };
        let fields = &rule.fields;
        let Some(main) = fields.mapping.as_deref() else {
            return Ok(nothing(Some(rule), Reason::NoMapping));
        };
        let (mapping, reason) = if query.force == Force::Main {
            (main, Reason::ServedForced)
        } else if fields.background_rate < 100 {
            let forced = query.force == Force::Fallback;
            if forced || i64::from(roll(rule, query, random)) >= fields.background_rate {
                match (fields.fallback_mapping.as_deref(), forced) {
                    (Some(fallback), true) => (fallback, Reason::ServedFallbackForced),
                    (Some(fallback), false) => (fallback, Reason::ServedFallback),
                    (None, true) => return Ok(nothing(Some(rule), Reason::DroppedNoFallback)),
                    (None, false) => {
                        return Ok(nothing(Some(rule), Reason::DroppedByBackgroundRate))
                    }
                }
            } else {
                (main, Reason::Served)
            }
        } else {
            (main, Reason::Served)
        };
        let Some((release, facts)) = self.releases.get(mapping) else {
            return Ok(nothing(Some(rule), Reason::ReleaseMissing));
        };
        let pin = match serving::should_serve(release, facts, query, client.as_ref())? {
            Err(blocked) => return Ok(nothing(Some(rule), Reason::Blocked(blocked))),
            Ok(Serve::Yes) => None,
            Ok(Serve::PastPin(pin)) => Some(pin),
        };
        // Pins are registered under the base channel: `release-cck-x` clients use `release`'s.
        // No pinnable release for the pin: fail open and serve the newer release.
        let Some(pinned) = pin.and_then(|pin| self.pinned_release(query.product, &fallback, &pin))
        else {
            return Ok(Decision {
                rule: Some(rule),
                release: Some(release),
                reason,
            });
        };
        let Some((release, facts)) = self.releases.get(pinned) else {
            return Ok(nothing(Some(rule), Reason::ReleaseMissing));
        };
        // The pinned release must itself agree to serve the client (it may be older than it);
        // past the pin or not, it is what the pin asked for.
        if let Err(blocked) = serving::should_serve(release, facts, query, client.as_ref())? {
            return Ok(nothing(Some(rule), Reason::Blocked(blocked)));
        }
        Ok(Decision {
            rule: Some(rule),
            release: Some(release),
            reason: Reason::ServedPinned,
        })
    }

    /// The winning rule. A comparison Balrog cannot make fails the query even when a higher
    /// rule wins, because Balrog compares every candidate before it sorts; evaluation stops at
    /// the winner unless such a failure is possible.
    fn winner(
        &self,
        query: &Query<'_>,
        index: Option<&ProductIndex>,
        scheme: VersionScheme,
        parsed: Option<&Version>,
        fallback: &str,
    ) -> Result<Option<&Rule>, EvaluationError> {
        let risky_rules = index.map_or(self.any_product_non_mozilla, |i| i.non_mozilla_versions);
        let look_at_all = scheme == VersionScheme::Mozilla && (parsed.is_none() || risky_rules);
        let product_rules = index.map_or(&[][..], |i| &i.rules[..]);
        let channel = query.channel();
        let mut winner = None;
        for position in (Merged {
            a: product_rules,
            b: &self.any_product,
        }) {
            let candidate = &self.rules[position];
            if !candidate.matches_columns(query) || !candidate.matches_channel(channel, fallback) {
                continue;
            }
            if !candidate.matches_version(query, scheme, parsed)? {
                continue;
            }
            if winner.is_some() || !candidate.matches_rest(query) {
                continue;
            }
            winner = Some(&candidate.rule);
            if !look_at_all {
                break;
            }
        }
        Ok(winner)
    }
}

/// The background-rate roll for `rule`: derived from the client's identifier when the rule is
/// sticky and the query carries one, else Balrog's fresh random roll.
#[inline]
fn roll(rule: &Rule, query: &Query<'_>, random: &mut impl RandomSource) -> u8 {
    match rule
        .fields
        .sticky_by
        .as_deref()
        .and_then(|source| query.client_ids.get(source))
    {
        Some(client) => sticky_roll(rule.rule_id, client),
        None => random.roll(),
    }
}

#[cfg(test)]
mod tests;
