//! Rule evaluation: which rule wins for a client's query and which release it is served, with
//! Balrog's semantics (research/balrog.md §a.2 and §a.3).
//!
//! A [`RuleSet`] is compiled once from the stored rules, emergency shutoffs and named releases,
//! and then evaluated many times: every rule condition (version lists, globs, operators, comma
//! lists, `&&` groups) is parsed at compile time, rules are indexed by product and kept in
//! winning order (priority descending, then lowest rule_id), so [`RuleSet::evaluate`] reads only
//! the rules of the query's product and of no product, stops at the first match, and allocates
//! nothing. The dice roll of the background rate comes from an injected [`RandomSource`].

use std::collections::HashMap;
use std::fmt;

use super::named_release::NamedRelease;
use super::rule::{Rule, UpdateType};
use super::shutoff::EmergencyShutoff;
use super::syntax::{split_operator, Comparison};
use super::update_blob::{self, Blocked, ReleaseFacts};
use super::version::{LooseVersion, Version, VersionPattern, VersionScheme};
use crate::error::{DomainError, DomainResult};

/// `force=1` serves the main mapping whatever the background rate; `force=-1` the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    #[default]
    None,
    Main,
    Fallback,
}

impl Force {
    /// Only `"1"` and `"-1"` mean anything; every other value is no force.
    pub fn parse(text: &str) -> Force {
        match text {
            "1" => Force::Main,
            "-1" => Force::Fallback,
            _ => Force::None,
        }
    }
}

/// A client's update query. `None` is an absent key, which is not the same as an empty value:
/// an absent `headerArchitecture` or `distVersion` matches only rules that leave the column
/// unset, while most other absent keys read as `""` as Balrog reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    pub product: &'a str,
    pub version: &'a str,
    pub build_id: Option<&'a str>,
    pub build_target: Option<&'a str>,
    pub locale: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub os_version: Option<&'a str>,
    pub distribution: Option<&'a str>,
    pub dist_version: Option<&'a str>,
    pub header_architecture: Option<&'a str>,
    pub instruction_set: Option<&'a str>,
    /// Unknown (`None`) matches every memory condition.
    pub memory: Option<i64>,
    pub jaws: Option<bool>,
    pub mig64: Option<bool>,
    pub force: Force,
}

impl<'a> Query<'a> {
    pub fn new(product: &'a str, version: &'a str) -> Query<'a> {
        Query {
            product,
            version,
            ..Query::default()
        }
    }

    /// The channel as given (`""` when absent).
    pub fn channel(&self) -> &'a str {
        self.channel.unwrap_or("")
    }

    /// `release-cck-yahoo` → `release`: partner builds also match their base channel.
    pub fn fallback_channel(&self) -> &'a str {
        let channel = self.channel();
        match find(channel.as_bytes(), b"-cck-") {
            Some(at) => &channel[..at],
            None => channel,
        }
    }
}

/// The first position of `needle` in `haystack`. Channels and OS versions are short, so a plain
/// scan beats setting up the standard library's two-way searcher on every evaluation.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// FNV-1a: a fast hash for the rule set's maps, whose keys (products, release names, build
/// targets, locales) come from stored data, never from clients, so flooding is no concern.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// A map with [`Fnv`] hashing.
pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// The dice of the background rate: a number in `0..=99`, fresh for every roll.
pub trait RandomSource {
    fn roll(&mut self) -> u8;
}

/// Always the same roll: for tests and for reproducible command-line evaluations.
#[derive(Debug, Clone, Copy)]
pub struct FixedRoll(pub u8);

impl RandomSource for FixedRoll {
    fn roll(&mut self) -> u8 {
        self.0 % 100
    }
}

/// A small, fast, non-cryptographic generator (SplitMix64). A dice roll for a gradual rollout
/// needs an even spread, not secrecy.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl RandomSource for SplitMix64 {
    fn roll(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top bits, reduced with a multiply: no modulo bias worth the name for 100 buckets.
        ((u128::from(z >> 32) * 100) >> 32) as u8
    }
}

/// Why a query was or was not served, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// An emergency shutoff covers the product and channel.
    Shutoff,
    NoMatchingRule,
    /// The winning rule has no mapping; lower rules are not consulted.
    NoMapping,
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
}

impl Reason {
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

/// A version that cannot be compared: Balrog answers these with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error("invalid version number {0:?} in the query")]
    QueryVersion(String),
    #[error("rule {rule_id} has a version condition {value:?} that cannot be compared with this product's versions")]
    RuleVersion { rule_id: i64, value: String },
    #[error("release {release} has an invalid version {value:?}")]
    ReleaseVersion { release: String, value: String },
}

/// One item of a rule's `version` list.
#[derive(Debug, Clone)]
struct VersionItem {
    op: Comparison,
    /// The operand as written (a glob keeps its `*`): loose versions compare this text.
    operand: Box<str>,
    /// The operand as a Mozilla version; `None` when it is not one.
    mozilla: Option<VersionPattern>,
}

impl VersionItem {
    fn compile(item: &str) -> Option<VersionItem> {
        // A trailing `*` makes the whole item a glob compared for equality (Balrog's flip_eq).
        let (op, operand) = if item.ends_with('*') {
            (Comparison::Eq, item)
        } else {
            split_operator(item)?
        };
        Some(VersionItem {
            op,
            operand: operand.into(),
            mozilla: VersionPattern::parse(operand).ok(),
        })
    }
}

fn compare<T: Ord + ?Sized>(value: &T, op: Comparison, operand: &T) -> bool {
    match op {
        Comparison::Eq => value == operand,
        Comparison::Lt => value < operand,
        Comparison::Le => value <= operand,
        Comparison::Gt => value > operand,
        Comparison::Ge => value >= operand,
    }
}

/// A `channel` column: exact, or a trailing-`*` prefix of at least two characters.
#[derive(Debug, Clone)]
enum ChannelPattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    /// `*`, `r*`, `**`: Balrog matches nothing with globs shorter than three characters.
    Nothing,
}

impl ChannelPattern {
    fn compile(text: &str) -> ChannelPattern {
        match text.strip_suffix('*') {
            Some(_) if text.len() < 3 => ChannelPattern::Nothing,
            Some(prefix) => ChannelPattern::Prefix(prefix.into()),
            None => ChannelPattern::Exact(text.into()),
        }
    }

    fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelPattern::Exact(exact) => &**exact == channel,
            ChannelPattern::Prefix(prefix) => channel.starts_with(&**prefix),
            ChannelPattern::Nothing => false,
        }
    }
}

/// A rule with every condition parsed.
#[derive(Debug, Clone)]
struct CompiledRule {
    rule: Rule,
    channel: Option<ChannelPattern>,
    version: Option<Vec<VersionItem>>,
    build_id: Option<(Comparison, Box<str>)>,
    memory: Option<(Comparison, i64)>,
    /// OR of AND groups, each part trimmed.
    os_version: Option<Vec<Vec<Box<str>>>>,
    instruction_set: Option<Vec<Box<str>>>,
    distribution: Option<Vec<Box<str>>>,
    locale: Option<Vec<Box<str>>>,
}

fn list(text: &Option<String>) -> Option<Vec<Box<str>>> {
    text.as_deref()
        .map(|t| t.split(',').map(Box::from).collect())
}

fn list_contains(list: &Option<Vec<Box<str>>>, value: &str) -> bool {
    list.as_ref()
        .is_none_or(|items| items.iter().any(|item| &**item == value))
}

fn optional_equals(rule: &Option<String>, query: Option<&str>) -> bool {
    rule.as_deref().is_none_or(|r| Some(r) == query)
}

impl CompiledRule {
    fn compile(rule: &Rule) -> DomainResult<CompiledRule> {
        let fields = &rule.fields;
        let bad = |field: &'static str, value: &str| {
            DomainError::field(
                field,
                format!("rule {} has an unusable condition {value:?}", rule.rule_id),
            )
        };
        let version = match &fields.version {
            None => None,
            Some(text) => Some(
                text.split(',')
                    .map(|item| VersionItem::compile(item).ok_or_else(|| bad("version", text)))
                    .collect::<DomainResult<Vec<_>>>()?,
            ),
        };
        let build_id = match &fields.build_id {
            None => None,
            Some(text) if text.ends_with('*') => Some((Comparison::Eq, text.as_str().into())),
            Some(text) => {
                let (op, operand) = split_operator(text).ok_or_else(|| bad("buildID", text))?;
                Some((op, operand.into()))
            }
        };
        let memory = match &fields.memory {
            None => None,
            Some(text) => {
                let (op, operand) = split_operator(text).ok_or_else(|| bad("memory", text))?;
                Some((op, operand.parse().map_err(|_| bad("memory", text))?))
            }
        };
        let os_version = fields.os_version.as_deref().map(|text| {
            text.split(',')
                .map(|group| group.split("&&").map(|p| Box::from(p.trim())).collect())
                .collect()
        });
        Ok(CompiledRule {
            rule: rule.clone(),
            channel: fields.channel.as_deref().map(ChannelPattern::compile),
            version,
            build_id,
            memory,
            os_version,
            instruction_set: list(&fields.instruction_set),
            distribution: list(&fields.distribution),
            locale: list(&fields.locale),
        })
    }

    /// Whether a version item cannot be read as a Mozilla version.
    fn has_non_mozilla_version(&self) -> bool {
        self.version
            .as_ref()
            .is_some_and(|items| items.iter().any(|i| i.mozilla.is_none()))
    }

    /// The columns Balrog filters in SQL: product, buildTarget, headerArchitecture, distVersion.
    fn matches_columns(&self, query: &Query<'_>) -> bool {
        let fields = &self.rule.fields;
        optional_equals(&fields.build_target, query.build_target)
            && optional_equals(&fields.header_architecture, query.header_architecture)
            && optional_equals(&fields.dist_version, query.dist_version)
    }

    fn matches_channel(&self, channel: &str, fallback: &str) -> bool {
        self.channel
            .as_ref()
            .is_none_or(|p| p.matches(channel) || p.matches(fallback))
    }

    fn matches_version(
        &self,
        query: &Query<'_>,
        scheme: VersionScheme,
        parsed: Option<&Version>,
    ) -> Result<bool, EvaluationError> {
        let Some(items) = &self.version else {
            return Ok(true);
        };
        for item in items {
            let matched = match scheme {
                VersionScheme::Loose => compare(
                    &LooseVersion(query.version),
                    item.op,
                    &LooseVersion(&item.operand),
                ),
                VersionScheme::Mozilla => {
                    let value = parsed
                        .ok_or_else(|| EvaluationError::QueryVersion(query.version.to_owned()))?;
                    match (item.op, item.mozilla) {
                        (Comparison::Eq, Some(pattern)) => pattern.matches(value),
                        (op, Some(VersionPattern::Exact(operand))) => compare(value, op, &operand),
                        _ => {
                            return Err(EvaluationError::RuleVersion {
                                rule_id: self.rule.rule_id,
                                value: item.operand.to_string(),
                            })
                        }
                    }
                }
            };
            if matched {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The conditions Balrog checks after the version, in its order.
    fn matches_rest(&self, query: &Query<'_>) -> bool {
        let fields = &self.rule.fields;
        if let Some((op, operand)) = &self.build_id {
            if !compare(query.build_id.unwrap_or(""), *op, operand) {
                return false;
            }
        }
        if let (Some((op, operand)), Some(memory)) = (&self.memory, query.memory) {
            if !compare(&memory, *op, operand) {
                return false;
            }
        }
        if let Some(groups) = &self.os_version {
            let os = query.os_version.unwrap_or("");
            if !groups.iter().any(|group| {
                group
                    .iter()
                    .all(|part| find(os.as_bytes(), part.as_bytes()).is_some())
            }) {
                return false;
            }
        }
        list_contains(&self.instruction_set, query.instruction_set.unwrap_or(""))
            && list_contains(&self.distribution, query.distribution.unwrap_or(""))
            && list_contains(&self.locale, query.locale.unwrap_or(""))
            && three_valued(fields.mig64, query.mig64)
            && three_valued(fields.jaws, query.jaws)
    }
}

/// A set rule value matches only the same known query value; an unset one matches anything.
fn three_valued(rule: Option<bool>, query: Option<bool>) -> bool {
    rule.is_none_or(|r| query == Some(r))
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
                .any(|c| &**c == channel || &**c == fallback)
            {
                return Ok(nothing(None, Reason::Shutoff));
            }
        }
        let scheme = VersionScheme::for_product(query.product);
        // Parsed once: rule conditions and the release's own check both compare with it.
        let client = Version::parse(query.version).ok();
        let Some(rule) = self.winner(query, index, scheme, client.as_ref(), fallback)? else {
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
            if forced || i64::from(random.roll()) >= fields.background_rate {
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
        if let Err(blocked) = update_blob::should_serve(release, facts, query, client.as_ref())? {
            return Ok(nothing(Some(rule), Reason::Blocked(blocked)));
        }
        Ok(Decision {
            rule: Some(rule),
            release: Some(release),
            reason,
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

impl RuleSet {
    /// A version condition as a rule column holds it, against a version (Mozilla order), for
    /// the conditions inside release blobs; anything unusable does not match.
    pub(crate) fn version_condition_matches(condition: &str, version: &str) -> bool {
        let Ok(version) = Version::parse(version) else {
            return false;
        };
        condition
            .split(',')
            .filter_map(VersionItem::compile)
            .any(|item| match (item.op, item.mozilla) {
                (Comparison::Eq, Some(pattern)) => pattern.matches(&version),
                (op, Some(VersionPattern::Exact(operand))) => compare(&version, op, &operand),
                _ => false,
            })
    }

    /// A buildID condition (one operator or none), compared as text.
    pub(crate) fn build_id_condition_matches(condition: &str, build_id: &str) -> bool {
        let (op, operand) = if condition.ends_with('*') {
            (Comparison::Eq, condition)
        } else {
            match split_operator(condition) {
                Some(split) => split,
                None => return false,
            }
        };
        compare(build_id, op, operand)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balrog::rule::RuleFields;
    use serde_json::json;

    fn base_fields() -> RuleFields {
        serde_json::from_value(json!({
            "alias": null, "priority": 100, "mapping": "Firefox-61.0", "fallbackMapping": null,
            "backgroundRate": 100, "update_type": "minor", "product": "Firefox",
            "version": null, "channel": null, "buildTarget": null, "buildID": null,
            "locale": null, "osVersion": null, "memory": null, "instructionSet": null,
            "distribution": null, "distVersion": null, "headerArchitecture": null,
            "mig64": null, "jaws": null, "whitelist": null, "comment": null
        }))
        .expect("fields")
    }

    fn rule(id: i64, change: impl FnOnce(&mut RuleFields)) -> Rule {
        let mut fields = base_fields();
        change(&mut fields);
        Rule {
            rule_id: id,
            fields,
            data_version: 1,
        }
    }

    /// An app release blob that serves version 61.0 build 2 to every target and locale used
    /// in these tests.
    fn release(name: &str, app_version: &str) -> NamedRelease {
        let locale = json!({"buildID": "20180601000000", "appVersion": app_version,
            "displayVersion": app_version,
            "completes": [{"from": "*", "filesize": 1, "hashValue": "h", "fileUrl": "https://x/c.mar"}]});
        let locales = json!({"en-US": locale, "de": locale, "": locale});
        let platform = json!({"locales": locales});
        NamedRelease {
            id: crate::ReleaseId::new(),
            name: name.into(),
            product: "Firefox".into(),
            data: json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
                "appVersion": app_version,
                "platforms": {"WINNT_x86_64-msvc": platform, "Darwin_x86_64-gcc3": platform, "": platform}}),
            read_only: false,
            data_version: 1,
        }
    }

    fn releases() -> Vec<NamedRelease> {
        vec![
            release("Firefox-61.0", "61.0"),
            release("Firefox-60.5", "60.5"),
            release("b", "61.0"),
            release("c", "61.0"),
            NamedRelease {
                data: json!({"name": "vpn", "schema_version": 10000}),
                ..release("vpn", "2.0")
            },
        ]
    }

    fn set(rules: Vec<Rule>) -> RuleSet {
        RuleSet::compile(&rules, &[], releases()).expect("compiles")
    }

    fn query() -> Query<'static> {
        Query {
            build_id: Some("20180101000000"),
            build_target: Some("WINNT_x86_64-msvc"),
            locale: Some("en-US"),
            channel: Some("release"),
            os_version: Some("Windows_NT 10.0.0.0 (x64)"),
            header_architecture: Some("Intel"),
            ..Query::new("Firefox", "60.0")
        }
    }

    /// The winning rule's id for `q` against one rule made by `change` (None: no match).
    fn winner_of(rules: &RuleSet, q: &Query<'_>) -> Option<i64> {
        rules
            .evaluate(q, &mut FixedRoll(0))
            .expect("evaluates")
            .rule
            .map(|r| r.rule_id)
    }

    fn matches(change: impl FnOnce(&mut RuleFields), q: &Query<'_>) -> bool {
        winner_of(&set(vec![rule(1, change)]), q) == Some(1)
    }

    #[test]
    fn an_unset_column_matches_anything() {
        assert!(matches(|_| {}, &query()));
        assert!(matches(|f| f.product = None, &query()));
    }

    #[test]
    fn product_and_build_target_compare_exactly() {
        assert!(!matches(
            |f| f.product = Some("Thunderbird".into()),
            &query()
        ));
        assert!(!matches(|f| f.product = Some("firefox".into()), &query()));
        assert!(matches(
            |f| f.build_target = Some("WINNT_x86_64-msvc".into()),
            &query()
        ));
        assert!(!matches(
            |f| f.build_target = Some("WINNT*".into()),
            &query()
        ));
        let no_target = Query {
            build_target: None,
            ..query()
        };
        assert!(!matches(
            |f| f.build_target = Some("WINNT_x86_64-msvc".into()),
            &no_target
        ));
    }

    #[test]
    fn header_architecture_and_dist_version_need_the_key() {
        let arch = |f: &mut RuleFields| f.header_architecture = Some("Intel".into());
        assert!(matches(arch, &query()));
        assert!(!matches(
            |f| f.header_architecture = Some("PPC".into()),
            &query()
        ));
        let without = Query {
            header_architecture: None,
            ..query()
        };
        assert!(!matches(arch, &without), "absent key: only unset rules");
        assert!(matches(|_| {}, &without));

        let dist = |f: &mut RuleFields| f.dist_version = Some("1.0".into());
        assert!(!matches(dist, &query()));
        let with = Query {
            dist_version: Some("1.0"),
            ..query()
        };
        assert!(matches(dist, &with));
        let longer = Query {
            dist_version: Some("1.0.0"),
            ..query()
        };
        assert!(!matches(dist, &longer), "no version semantics");
    }

    #[test]
    fn channels_match_exactly_by_glob_or_through_the_cck_fallback() {
        let channel = |c: &'static str| move |f: &mut RuleFields| f.channel = Some(c.into());
        let on = |c: &'static str| Query {
            channel: Some(c),
            ..query()
        };
        assert!(matches(channel("release"), &on("release")));
        assert!(!matches(channel("release"), &on("releasetest")));
        assert!(matches(channel("release*"), &on("releasetest")));
        assert!(matches(channel("release*"), &on("release")));
        assert!(matches(channel("release*"), &on("release-cck-x")));
        assert!(matches(channel("release"), &on("release-cck-yahoo")));
        assert!(!matches(channel("release"), &on("beta-cck-yahoo")));
        assert!(matches(channel("be*"), &on("beta")));
        for short in ["*", "r*", "**"] {
            assert!(!matches(channel(short), &on("release")), "{short}");
        }
        // An inner `*` is literal.
        assert!(!matches(channel("re*ease*"), &on("release")));
        assert!(matches(channel("re*ease*"), &on("re*easex")));
        // `.` is literal too.
        assert!(!matches(channel("a.c*"), &on("abc")));
        assert!(!matches(
            channel("release"),
            &Query {
                channel: None,
                ..query()
            }
        ));
    }

    #[test]
    fn versions_compare_with_mozilla_order_operators_lists_and_globs() {
        let version = |v: &'static str| move |f: &mut RuleFields| f.version = Some(v.into());
        let at = |v: &'static str| Query {
            version: v,
            ..query()
        };
        assert!(matches(version("60.0"), &at("60.0")));
        assert!(matches(version("60.0"), &at("60.0.0")));
        assert!(!matches(version("60.0"), &at("60.0.1")));
        assert!(matches(version("<61.0"), &at("60.0")));
        assert!(!matches(version("<60.0"), &at("60.0")));
        assert!(matches(version("<=60.0"), &at("60.0")));
        assert!(matches(version(">59.0"), &at("60.0")));
        assert!(!matches(version(">60.0"), &at("60.0")));
        assert!(matches(version(">=60.0"), &at("60.0")));
        assert!(matches(version("<60.0"), &at("60.0a1")));
        assert!(matches(version("59.0,60.0"), &at("60.0")));
        assert!(!matches(version("59.0,61.0"), &at("60.0")));
        assert!(matches(version("60.*"), &at("60.0.2")));
        assert!(!matches(version("60.*"), &at("61.0")));
        assert!(matches(version("60.0.*"), &at("60.0.2")));
        assert!(!matches(version("60.0.*"), &at("60.0")));
        assert!(matches(version("9.0,10.*"), &at("10.1")));
    }

    #[test]
    fn loose_products_compare_lists_of_numbers_and_words() {
        let vpn = |v: &'static str| {
            move |f: &mut RuleFields| {
                f.product = Some("FirefoxVPN".into());
                f.version = Some(v.into());
                // A Guardian blob: the app-release check (Mozilla versions only) does not apply.
                f.mapping = Some("vpn".into());
            }
        };
        let at = |v: &'static str| Query {
            product: "FirefoxVPN",
            version: v,
            ..query()
        };
        assert!(matches(vpn("2.0"), &at("2.0")));
        assert!(!matches(vpn("2.0"), &at("2.0.0")));
        assert!(matches(vpn("<2.10"), &at("2.9")));
        assert!(matches(vpn(">=2.0.0"), &at("2.0.0-beta")));
        // Any text is a loose version: nothing fails.
        assert!(!matches(vpn("2.0"), &at("not a version")));
    }

    #[test]
    fn an_unparseable_version_fails_only_once_compared() {
        let rules = set(vec![rule(1, |f| {
            f.version = Some(">=60.0".into());
            f.channel = Some("release".into());
        })]);
        let bad = Query {
            version: "sixty",
            ..query()
        };
        assert_eq!(
            rules.evaluate(&bad, &mut FixedRoll(0)).map(|d| d.reason),
            Err(EvaluationError::QueryVersion("sixty".into()))
        );
        // A rule that fails the channel check first compares nothing.
        let other_channel = Query {
            channel: Some("beta"),
            ..bad
        };
        assert_eq!(
            rules
                .evaluate(&other_channel, &mut FixedRoll(0))
                .map(|d| d.reason),
            Ok(Reason::NoMatchingRule)
        );
        // Even a lower-priority candidate's comparison fails the query, as in Balrog.
        let two = set(vec![
            rule(1, |f| f.priority = 200),
            rule(2, |f| f.version = Some("60.0".into())),
        ]);
        assert!(two.evaluate(&bad, &mut FixedRoll(0)).is_err());
        // A product-less rule with a loose version fails Mozilla queries that reach it.
        let loose = set(vec![
            rule(1, |f| f.priority = 200),
            rule(2, |f| {
                f.product = None;
                f.version = Some("2".into());
            }),
        ]);
        assert!(matches!(
            loose.evaluate(&query(), &mut FixedRoll(0)),
            Err(EvaluationError::RuleVersion { rule_id: 2, .. })
        ));
    }

    #[test]
    fn build_ids_compare_as_text() {
        let build = |b: &'static str| move |f: &mut RuleFields| f.build_id = Some(b.into());
        let with = |b: Option<&'static str>| Query {
            build_id: b,
            ..query()
        };
        assert!(matches(
            build("20180101000000"),
            &with(Some("20180101000000"))
        ));
        assert!(matches(
            build("<20190101000000"),
            &with(Some("20180101000000"))
        ));
        assert!(matches(build(">=2018"), &with(Some("20180101000000"))));
        assert!(matches(build("<9"), &with(Some("10"))), "\"10\" < \"9\"");
        assert!(
            !matches(build("2018*"), &with(Some("20180101000000"))),
            "no globs"
        );
        assert!(matches(build("2018*"), &with(Some("2018*"))));
        assert!(matches(build("<1"), &with(None)), "missing is \"\"");
        assert!(matches(
            build(">20180101000000"),
            &with(Some("20180102000000"))
        ));
        assert!(matches(
            build("<=20180101000000"),
            &with(Some("20180101000000"))
        ));
    }

    #[test]
    fn memory_compares_as_a_number_and_unknown_matches() {
        let memory = |m: &'static str| move |f: &mut RuleFields| f.memory = Some(m.into());
        let with = |m: Option<i64>| Query {
            memory: m,
            ..query()
        };
        assert!(matches(memory("<2048"), &with(Some(1024))));
        assert!(!matches(memory("<2048"), &with(Some(4096))));
        assert!(matches(memory("4096"), &with(Some(4096))));
        assert!(matches(memory(">=4096"), &with(Some(4096))));
        assert!(matches(memory(">1000"), &with(Some(4096))));
        assert!(matches(memory("<=1"), &with(Some(1))));
        assert!(matches(memory("<2048"), &with(None)));
    }

    #[test]
    fn os_versions_are_substrings_with_or_and_and() {
        let os = |o: &'static str| move |f: &mut RuleFields| f.os_version = Some(o.into());
        let on = |o: Option<&'static str>| Query {
            os_version: o,
            ..query()
        };
        let xp = on(Some("Windows_NT 5.1.2600 (x86)"));
        assert!(matches(os("Windows_NT 5.1"), &xp));
        assert!(matches(os("Windows_NT 5.0,Windows_NT 5.1"), &xp));
        assert!(matches(os("Windows_NT 5.1 && (x86)"), &xp));
        assert!(!matches(os("Windows_NT 5.1&&(x64)"), &xp));
        assert!(matches(os("(x64)"), &query()));
        assert!(!matches(os("windows_nt"), &xp), "case-sensitive");
        assert!(!matches(os("Windows_NT"), &on(None)));
        assert!(!matches(os("Windows_NT"), &on(Some(""))));
    }

    #[test]
    fn locales_distributions_and_instruction_sets_are_exact_list_items() {
        let en = Query {
            locale: Some("en"),
            ..query()
        };
        assert!(matches(|f| f.locale = Some("de,en-US".into()), &query()));
        assert!(!matches(|f| f.locale = Some("en".into()), &query()));
        assert!(!matches(|f| f.locale = Some("en-US".into()), &en));
        assert!(!matches(|f| f.locale = Some("EN-US".into()), &query()));
        let dist = Query {
            distribution: Some("yahoo"),
            ..query()
        };
        assert!(matches(
            |f| f.distribution = Some("mozilla,yahoo".into()),
            &dist
        ));
        assert!(!matches(
            |f| f.distribution = Some("yahoo".into()),
            &query()
        ));
        let sse = Query {
            instruction_set: Some("SSE3"),
            ..query()
        };
        assert!(matches(
            |f| f.instruction_set = Some("SSE,SSE3".into()),
            &sse
        ));
        assert!(!matches(|f| f.instruction_set = Some("SSE".into()), &sse));
    }

    #[test]
    fn jaws_and_mig64_are_three_valued() {
        for (rule_value, query_value, expected) in [
            (Some(false), Some(false), true),
            (Some(false), Some(true), false),
            (Some(false), None, false),
            (Some(true), Some(false), false),
            (Some(true), Some(true), true),
            (Some(true), None, false),
            (None, Some(false), true),
            (None, Some(true), true),
            (None, None, true),
        ] {
            let q = Query {
                jaws: query_value,
                mig64: query_value,
                ..query()
            };
            assert_eq!(
                matches(|f| f.jaws = rule_value, &q),
                expected,
                "jaws {rule_value:?} {query_value:?}"
            );
            assert_eq!(
                matches(|f| f.mig64 = rule_value, &q),
                expected,
                "mig64 {rule_value:?} {query_value:?}"
            );
        }
    }

    #[test]
    fn highest_priority_wins_and_ties_go_to_the_lowest_rule_id() {
        let rules = set(vec![
            rule(5, |f| f.priority = 50),
            rule(3, |f| f.priority = 90),
            rule(2, |f| f.priority = 90),
            rule(4, |f| {
                f.priority = 500;
                f.channel = Some("beta".into());
            }),
            rule(9, |f| {
                f.priority = 95;
                f.product = None;
            }),
        ]);
        assert_eq!(
            winner_of(&rules, &query()),
            Some(9),
            "product-less rules compete"
        );
        let no_any = set(vec![
            rule(5, |f| f.priority = 50),
            rule(3, |f| f.priority = 90),
            rule(2, |f| f.priority = 90),
        ]);
        assert_eq!(winner_of(&no_any, &query()), Some(2));
        assert_eq!(
            winner_of(&no_any, &Query::new("Thunderbird", "60.0")),
            None,
            "other products' rules are not consulted"
        );
    }

    #[test]
    fn no_fall_through_past_a_winner_without_mapping() {
        let rules = set(vec![
            rule(1, |f| {
                f.priority = 200;
                f.mapping = None;
                f.fallback_mapping = Some("b".into());
            }),
            rule(2, |f| f.priority = 100),
        ]);
        let decision = rules.evaluate(&query(), &mut FixedRoll(0)).expect("ok");
        assert_eq!(decision.rule.map(|r| r.rule_id), Some(1));
        assert_eq!(decision.mapping(), None);
        assert_eq!(decision.reason, Reason::NoMapping);
    }

    #[test]
    fn background_rate_rolls_the_dice_and_force_overrides() {
        let with_fallback = set(vec![rule(1, |f| {
            f.background_rate = 25;
            f.fallback_mapping = Some("Firefox-60.5".into());
        })]);
        let eval = |rules: &RuleSet, force: Force, roll: u8| {
            let q = Query { force, ..query() };
            let d = rules.evaluate(&q, &mut FixedRoll(roll)).expect("ok");
            (d.mapping().map(str::to_owned), d.reason)
        };
        assert_eq!(
            eval(&with_fallback, Force::None, 24),
            (Some("Firefox-61.0".into()), Reason::Served)
        );
        assert_eq!(
            eval(&with_fallback, Force::None, 25),
            (Some("Firefox-60.5".into()), Reason::ServedFallback)
        );
        assert_eq!(
            eval(&with_fallback, Force::Main, 99),
            (Some("Firefox-61.0".into()), Reason::ServedForced)
        );
        assert_eq!(
            eval(&with_fallback, Force::Fallback, 0),
            (Some("Firefox-60.5".into()), Reason::ServedFallbackForced)
        );

        let without = set(vec![rule(1, |f| f.background_rate = 25)]);
        assert_eq!(
            eval(&without, Force::None, 50),
            (None, Reason::DroppedByBackgroundRate)
        );
        assert_eq!(
            eval(&without, Force::Fallback, 0),
            (None, Reason::DroppedNoFallback)
        );

        // 0 always falls back; 100 never does, even with force=-1.
        let zero = set(vec![rule(1, |f| {
            f.background_rate = 0;
            f.fallback_mapping = Some("Firefox-60.5".into());
        })]);
        assert_eq!(eval(&zero, Force::None, 0).1, Reason::ServedFallback);
        let full = set(vec![rule(1, |f| {
            f.fallback_mapping = Some("Firefox-60.5".into())
        })]);
        assert_eq!(eval(&full, Force::Fallback, 0).1, Reason::Served);
        assert!(Force::parse("1") == Force::Main && Force::parse("-1") == Force::Fallback);
        assert_eq!(Force::parse("yes"), Force::None);
    }

    #[test]
    fn a_fixed_or_split_mix_source_rolls_below_a_hundred() {
        let mut rng = SplitMix64(42);
        let mut seen = [false; 100];
        for _ in 0..10_000 {
            let roll = rng.roll();
            assert!(roll < 100);
            seen[usize::from(roll)] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value comes up");
        assert_eq!(FixedRoll(250).roll(), 50);
    }

    #[test]
    fn shutoffs_cover_the_channel_and_its_cck_fallback() {
        let shutoff = EmergencyShutoff::new("Firefox", "release", None).expect("valid");
        let rules = RuleSet::compile(&[rule(1, |_| {})], &[shutoff], releases()).expect("ok");
        for channel in ["release", "release-cck-yahoo"] {
            let q = Query {
                channel: Some(channel),
                ..query()
            };
            let decision = rules.evaluate(&q, &mut FixedRoll(0)).expect("ok");
            assert_eq!(decision.reason, Reason::Shutoff);
            assert!(decision.rule.is_none());
        }
        let beta = Query {
            channel: Some("beta"),
            ..query()
        };
        assert_eq!(
            rules.evaluate(&beta, &mut FixedRoll(0)).expect("ok").reason,
            Reason::Served
        );
        let other_product = Query {
            product: "Thunderbird",
            ..query()
        };
        assert_eq!(
            rules
                .evaluate(&other_product, &mut FixedRoll(0))
                .expect("ok")
                .reason,
            Reason::NoMatchingRule
        );
    }

    #[test]
    fn a_release_is_served_only_when_newer_than_the_client() {
        let rules = set(vec![rule(1, |_| {})]);
        let at = |version: &'static str, build: &'static str| Query {
            version,
            build_id: Some(build),
            ..query()
        };
        let reason = |q: &Query<'_>| rules.evaluate(q, &mut FixedRoll(0)).expect("ok").reason;
        assert_eq!(reason(&at("60.0", "20180101000000")), Reason::Served);
        assert_eq!(
            reason(&at("61.0", "20180101000000")),
            Reason::Served,
            "same version, older build"
        );
        assert_eq!(
            reason(&at("61.0", "20180601000000")),
            Reason::Blocked(Blocked::NotNewer)
        );
        assert_eq!(reason(&at("62.0", "1")), Reason::Blocked(Blocked::NotNewer));
        let missing = set(vec![rule(1, |f| f.mapping = Some("gone".into()))]);
        assert_eq!(
            missing
                .evaluate(&query(), &mut FixedRoll(0))
                .expect("ok")
                .reason,
            Reason::ReleaseMissing
        );
    }

    #[test]
    fn unusable_build_id_or_memory_conditions_are_refused_at_compile_time() {
        let bad = rule(1, |f| f.memory = Some("lots".into()));
        assert!(RuleSet::compile(&[bad], &[], vec![]).is_err());
        let bad = rule(1, |f| f.build_id = Some("<".into()));
        assert!(RuleSet::compile(&[bad], &[], vec![]).is_err());
    }
}
