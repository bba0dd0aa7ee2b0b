//! Building a rule in code: [`RuleBuilder`] sets columns by name and checks the result exactly as
//! the admin API checks a new rule, so an embedder needs neither JSON nor all 22 columns.

use serde_json::{Map, Value};

use super::rule::{Rule, RuleChanges, RuleField, RuleFields, UpdateType};
use crate::error::DomainResult;

impl Default for RuleFields {
    /// A rule that matches every client and serves nothing: priority 0, background rate 100,
    /// a minor update, every other column unset. Set `mapping` (and what it should match) with
    /// struct update syntax, or use [`Rule::builder`], which also checks the values.
    fn default() -> RuleFields {
        RuleFields {
            alias: None,
            priority: 0,
            mapping: None,
            fallback_mapping: None,
            background_rate: 100,
            update_type: UpdateType::Minor,
            product: None,
            version: None,
            channel: None,
            build_target: None,
            build_id: None,
            locale: None,
            os_version: None,
            memory: None,
            instruction_set: None,
            distribution: None,
            dist_version: None,
            header_architecture: None,
            mig64: None,
            jaws: None,
            whitelist: None,
            comment: None,
            sticky_by: None,
        }
    }
}

/// A rule being built: start with [`Rule::builder`], set what the rule matches and serves, then
/// [`build`](RuleBuilder::build) it.
///
/// Priority defaults to 0, the background rate to 100 and the update type to minor; every
/// column left alone matches every client.
///
/// ```
/// use shiplog_domain::balrog::Rule;
///
/// let rule = Rule::builder(1, "Firefox-61.0")
///     .product("Firefox")
///     .channel("release*")
///     .version(">=56.0")
///     .background_rate(50)
///     .fallback_mapping("Firefox-60.0")
///     .build()?;
/// assert_eq!(rule.fields.channel.as_deref(), Some("release*"));
///
/// // The checks are the admin API's: a malformed version condition is refused.
/// assert!(Rule::builder(2, "Firefox-61.0").version(">=sixty").build().is_err());
/// # Ok::<(), shiplog_domain::DomainError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuleBuilder {
    rule_id: i64,
    data_version: i64,
    columns: Map<String, Value>,
}

impl Rule {
    /// Starts a rule with id `rule_id` that serves the named release `mapping`.
    pub fn builder(rule_id: i64, mapping: &str) -> RuleBuilder {
        let mut columns = Map::new();
        columns.insert(RuleField::Mapping.name().into(), mapping.into());
        columns.insert(RuleField::Priority.name().into(), 0.into());
        columns.insert(RuleField::BackgroundRate.name().into(), 100.into());
        columns.insert(
            RuleField::UpdateType.name().into(),
            UpdateType::Minor.as_str().into(),
        );
        RuleBuilder {
            rule_id,
            data_version: 1,
            columns,
        }
    }
}

macro_rules! text_setters {
    ($($(#[$doc:meta])* $method:ident => $field:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(self, value: &str) -> RuleBuilder {
                self.set(RuleField::$field, value.into())
            }
        )*
    };
}

impl RuleBuilder {
    /// Sets one column to a value as the admin API would receive it in JSON.
    pub fn set(mut self, field: RuleField, value: Value) -> RuleBuilder {
        self.columns.insert(field.name().into(), value);
        self
    }

    /// Higher priorities win; ties go to the lowest rule id.
    pub fn priority(self, priority: i64) -> RuleBuilder {
        self.set(RuleField::Priority, priority.into())
    }

    /// The percentage (0–100) of matching clients that get the mapping; the others get the
    /// fallback mapping, or nothing.
    pub fn background_rate(self, percent: i64) -> RuleBuilder {
        self.set(RuleField::BackgroundRate, percent.into())
    }

    /// Whether the update offered is minor or major.
    pub fn update_type(self, update_type: UpdateType) -> RuleBuilder {
        self.set(RuleField::UpdateType, update_type.as_str().into())
    }

    /// Matches only clients that report (`true`) or deny (`false`) running JAWS.
    pub fn jaws(self, value: bool) -> RuleBuilder {
        self.set(RuleField::Jaws, value.into())
    }

    /// Matches only clients that report (`true`) or deny (`false`) 64-bit migration.
    pub fn mig64(self, value: bool) -> RuleBuilder {
        self.set(RuleField::Mig64, value.into())
    }

    /// The rule's `data_version` (1 unless set): the counter optimistic locking compares.
    pub fn data_version(mut self, data_version: i64) -> RuleBuilder {
        self.data_version = data_version;
        self
    }

    text_setters! {
        /// The release served to clients the background rate leaves out.
        fallback_mapping => FallbackMapping;
        /// A unique name the rule can be addressed by instead of its id.
        alias => Alias;
        /// Matches only this product.
        product => Product;
        /// A version condition: `60.0`, `<61.0`, `>=56.0`, `60.*`, or a comma list of them.
        version => Version;
        /// A channel, or a prefix glob such as `release*`.
        channel => Channel;
        /// An exact build target, e.g. `WINNT_x86_64-msvc`.
        build_target => BuildTarget;
        /// A build id, compared as text, with an optional operator (`<20180101000000`).
        build_id => BuildId;
        /// A comma list of locales.
        locale => Locale;
        /// A comma list of OS version substrings; `&&` joins parts that must all appear.
        os_version => OsVersion;
        /// A memory size in MB, with an optional operator (`<2048`).
        memory => Memory;
        /// A comma list of instruction sets.
        instruction_set => InstructionSet;
        /// A comma list of partner distributions.
        distribution => Distribution;
        /// An exact distribution version.
        dist_version => DistVersion;
        /// An exact header architecture.
        header_architecture => HeaderArchitecture;
        /// Free text for the people who read the rule.
        comment => Comment;
        /// Makes the background-rate roll sticky per client: `query:NAME` or `header:NAME`
        /// names where the client's identifier comes from (a shiplog extension).
        sticky_by => StickyBy;
    }

    /// The rule, checked as the admin API checks a new rule (syntax of every condition,
    /// priority and background rate in range, alias form).
    pub fn build(self) -> DomainResult<Rule> {
        let fields = RuleFields::create(&RuleChanges::parse(&self.columns)?)?;
        Ok(Rule {
            rule_id: self.rule_id,
            fields,
            data_version: self.data_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_rule_has_the_defaults_and_the_columns_set() {
        let rule = Rule::builder(7, "Firefox-61.0")
            .product("Firefox")
            .channel(" release ")
            .locale("de, en-US")
            .priority(90)
            .update_type(UpdateType::Major)
            .jaws(false)
            .data_version(3)
            .build()
            .expect("valid");
        assert_eq!(rule.rule_id, 7);
        assert_eq!(rule.data_version, 3);
        let expected = RuleFields {
            mapping: Some("Firefox-61.0".into()),
            product: Some("Firefox".into()),
            channel: Some("release".into()),
            locale: Some("de,en-US".into()),
            priority: 90,
            update_type: UpdateType::Major,
            jaws: Some(false),
            ..RuleFields::default()
        };
        assert_eq!(rule.fields, expected);
    }

    #[test]
    fn a_built_rule_is_checked_like_a_created_one() {
        assert!(Rule::builder(1, "x").background_rate(101).build().is_err());
        assert!(Rule::builder(1, "x").priority(-1).build().is_err());
        assert!(Rule::builder(1, "x").memory("lots").build().is_err());
        assert!(Rule::builder(1, "x").alias("1st").build().is_err());
        assert!(Rule::builder(1, "").build().is_err(), "an empty mapping");
        assert!(Rule::builder(1, "x")
            .sticky_by("cookie:id")
            .build()
            .is_err());
        let sticky = Rule::builder(1, "x")
            .sticky_by("header:X-Client-Id")
            .build();
        assert_eq!(
            sticky.expect("valid").fields.sticky_by.as_deref(),
            Some("header:X-Client-Id")
        );
    }
}
