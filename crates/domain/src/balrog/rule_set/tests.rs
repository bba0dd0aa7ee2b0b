//! Evaluation against small rule sets: every condition, priority, the background rate, force,
//! shutoffs and the serve check, as Balrog answers them.

use super::*;
use crate::balrog::dice::FixedRoll;
use crate::balrog::query::ClientIds;
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
fn sysaddon_partner_channels_fall_back_to_the_sysaddon_channel() {
    let channel = |c: &'static str| move |f: &mut RuleFields| f.channel = Some(c.into());
    let on = |c: &'static str| Query {
        channel: Some(c),
        ..query()
    };
    // AUS.getFallbackChannel keeps `-sysaddon`: a partner build testing system add-ons reaches
    // the `-sysaddon` rules, and no longer the plain channel's.
    assert!(matches(
        channel("release-sysaddon"),
        &on("release-cck-ubuntu-sysaddon")
    ));
    assert!(!matches(
        channel("release"),
        &on("release-cck-ubuntu-sysaddon")
    ));
    assert!(matches(
        channel("release*"),
        &on("release-cck-ubuntu-sysaddon")
    ));
    assert!(matches(
        channel("release-sysaddon"),
        &on("release-sysaddon")
    ));
    assert!(!matches(channel("release"), &on("release-sysaddon")));
    // A shutoff of the `-sysaddon` channel covers its partner builds.
    let shutoff = EmergencyShutoff {
        product: "Firefox".into(),
        channel: "release-sysaddon".into(),
        comment: None,
        data_version: 1,
    };
    let rules = RuleSet::compile(&[rule(1, |_| {})], &[shutoff], releases()).expect("compiles");
    let decision = rules
        .evaluate(&on("release-cck-ubuntu-sysaddon"), &mut FixedRoll(0))
        .expect("evaluates");
    assert_eq!(decision.reason, Reason::Shutoff);
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
    assert!(matches(version("9.0,10.*"), &at("10.1")));
}

#[test]
fn globs_match_as_balrogs_either_eq() {
    let version = |v: &'static str| move |f: &mut RuleFields| f.version = Some(v.into());
    let at = |v: &'static str| Query {
        version: v,
        ..query()
    };
    // comparison.either_eq, "dot-0": StrictVersion("60.0.0") == GlobVersion("60.0.*").
    assert!(matches(version("60.0.*"), &at("60.0")));
    assert!(matches(version("60.0.*"), &at("60.0.0")));
    // "Nightly": GlobVersion("60.*") == StrictVersion("60.0a1") by its text.
    assert!(matches(version("60.*"), &at("60.0a1")));
    // Neither direction holds for a pre-release of the glob's own minor version.
    assert!(!matches(version("60.0.*"), &at("60.0a1")));
    assert!(!matches(version("60.0.*"), &at("60.1")));
}

#[test]
fn stored_version_lists_mix_operators_and_globs_as_balrog_evaluates_them() {
    let version = |v: &'static str| move |f: &mut RuleFields| f.version = Some(v.into());
    let at = |v: &'static str| Query {
        version: v,
        ..query()
    };
    // rulematching.matchVersion: each comma item is its own version_compare, ORed.
    assert!(matches(version("<56.0,>=60.0"), &at("60.0")));
    assert!(matches(version("<56.0,>=60.0"), &at("55.0.1")));
    assert!(!matches(version("<56.0,>=60.0"), &at("58.0")));
    assert!(matches(version("58.*,>=61.0"), &at("58.0.1")));
    // comparison.get_op reads an operand as the run of word characters and dots after the
    // operator: the rest is ignored.
    assert!(matches(version(">=60.0-whatever"), &at("60.0")));
}

#[test]
fn unusable_version_items_fail_only_the_queries_that_reach_them() {
    let at = |v: &'static str| Query {
        version: v,
        ..query()
    };
    // get_op finds nothing in "=61.0" (Balrog: a TypeError); an earlier item that matches
    // answers before it is reached.
    let rules = set(vec![rule(1, |f| f.version = Some("60.0,=61.0".into()))]);
    assert_eq!(winner_of(&rules, &at("60.0")), Some(1));
    assert_eq!(
        rules
            .evaluate(&at("59.0"), &mut FixedRoll(0))
            .map(|d| d.reason),
        Err(EvaluationError::RuleVersion {
            rule_id: 1,
            value: "=61.0".into()
        })
    );
    // An operator in front of a glob makes the whole item a glob that MozillaVersion refuses.
    let rules = set(vec![rule(1, |f| f.version = Some(">=60.*".into()))]);
    assert!(matches!(
        rules.evaluate(&at("60.0"), &mut FixedRoll(0)),
        Err(EvaluationError::RuleVersion { rule_id: 1, .. })
    ));
    // A query on another channel never compares, so nothing fails.
    let rules = set(vec![rule(1, |f| {
        f.version = Some(">=sixty".into());
        f.channel = Some("beta".into());
    })]);
    assert_eq!(winner_of(&rules, &at("60.0")), None);
    // A lower candidate's unusable item still fails the query, as Balrog compares every
    // candidate before sorting.
    let rules = set(vec![
        rule(1, |f| f.priority = 200),
        rule(2, |f| f.version = Some("60.0,".into())),
    ]);
    assert!(rules.evaluate(&at("61.0"), &mut FixedRoll(0)).is_err());
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

fn pin(channel: &str, version: &str, mapping: &str) -> PinnableRelease {
    PinnableRelease {
        product: "Firefox".into(),
        channel: channel.into(),
        version: version.into(),
        mapping: mapping.into(),
        data_version: 1,
    }
}

/// Rule 1 maps every Firefox query to 61.0; a pin of `60.` is registered to serve 60.5.
fn pinned_set() -> RuleSet {
    set(vec![rule(1, |_| {})]).with_pins(&[pin("release", "60.", "Firefox-60.5")])
}

#[test]
fn a_pin_the_mapped_release_is_past_serves_the_pinned_release() {
    let rules = pinned_set();
    let pinned = Query {
        pin: Some("60."),
        ..query()
    };
    let decision = rules
        .evaluate(&pinned, &mut FixedRoll(0))
        .expect("evaluates");
    assert_eq!(decision.mapping(), Some("Firefox-60.5"));
    assert_eq!(decision.reason, Reason::ServedPinned);
    assert_eq!(decision.rule.map(|r| r.rule_id), Some(1));
    // `release-cck-*` clients use the pins of their base channel.
    let partner = Query {
        pin: Some("60."),
        channel: Some("release-cck-acme"),
        ..query()
    };
    let decision = rules
        .evaluate(&partner, &mut FixedRoll(0))
        .expect("evaluates");
    assert_eq!(decision.mapping(), Some("Firefox-60.5"));
}

#[test]
fn a_pin_the_mapped_release_satisfies_or_nobody_registered_serves_the_mapping() {
    let rules = pinned_set();
    for pin_text in ["61.", "61.0.", "62.", "59."] {
        let q = Query {
            pin: Some(pin_text),
            ..query()
        };
        let decision = rules.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
        // 61.* and newer pins are not exceeded; `59.` has no pinnable release: fail open.
        assert_eq!(decision.mapping(), Some("Firefox-61.0"), "pin {pin_text}");
        assert_eq!(decision.reason, Reason::Served, "pin {pin_text}");
    }
    // Pins are per channel: beta has none.
    let beta = Query {
        pin: Some("60."),
        channel: Some("beta"),
        ..query()
    };
    let decision = rules.evaluate(&beta, &mut FixedRoll(0)).expect("evaluates");
    assert_eq!(decision.mapping(), Some("Firefox-61.0"));
}

#[test]
fn a_pinned_release_must_still_be_newer_than_the_client() {
    let rules = pinned_set();
    let q = Query {
        pin: Some("60."),
        ..Query::new("Firefox", "60.5")
    };
    let q = Query {
        build_target: Some("WINNT_x86_64-msvc"),
        locale: Some("en-US"),
        channel: Some("release"),
        build_id: Some("20190101000000"),
        ..q
    };
    let decision = rules.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
    assert_eq!(decision.mapping(), None);
    assert_eq!(decision.reason, Reason::Blocked(Blocked::NotNewer));
}

#[test]
fn a_malformed_pin_fails_only_a_query_that_would_be_served() {
    let rules = pinned_set();
    let bad = Query {
        pin: Some("60"),
        ..query()
    };
    assert_eq!(
        rules.evaluate(&bad, &mut FixedRoll(0)).map(|d| d.mapping()),
        Err(EvaluationError::PinVersion("60".into()))
    );
    // No rule for Thunderbird: nothing is served, and the pin is never read.
    let unmatched = Query {
        product: "Thunderbird",
        ..bad
    };
    let decision = rules
        .evaluate(&unmatched, &mut FixedRoll(0))
        .expect("evaluates");
    assert_eq!(decision.reason, Reason::NoMatchingRule);
}

/// A 30 % rollout of 61.0 with 60.5 as the fallback, sticky by `source` when given.
fn sticky_set(source: Option<&str>) -> RuleSet {
    set(vec![rule(11, |f| {
        f.background_rate = 30;
        f.fallback_mapping = Some("Firefox-60.5".into());
        f.sticky_by = source.map(str::to_owned);
    })])
}

#[test]
fn a_sticky_rule_rolls_from_the_client_identifier() {
    let rules = sticky_set(Some("query:clientId"));
    assert_eq!(rules.sticky_sources(), [Box::from("query:clientId")]);
    let ids = vec![("query:clientId".to_owned(), "client-1".to_owned())];
    let q = Query {
        client_ids: ClientIds::BySource(&ids),
        ..query()
    };
    let expected = if crate::balrog::dice::sticky_roll(11, "client-1") < 30 {
        "Firefox-61.0"
    } else {
        "Firefox-60.5"
    };
    // Whatever the dice say, the client's identifier decides.
    for dice in [0, 29, 30, 99] {
        let decision = rules.evaluate(&q, &mut FixedRoll(dice)).expect("evaluates");
        assert_eq!(decision.mapping(), Some(expected), "dice {dice}");
    }
    // `Same` (the evaluate endpoint's clientId) answers as the source would.
    let same = Query {
        client_ids: ClientIds::Same("client-1"),
        ..query()
    };
    let decision = rules
        .evaluate(&same, &mut FixedRoll(99))
        .expect("evaluates");
    assert_eq!(decision.mapping(), Some(expected));
}

#[test]
fn sticky_rules_split_clients_by_the_rate() {
    let rules = sticky_set(Some("header:X-Client-Id"));
    let served = (0..10_000)
        .filter(|n| {
            let id = format!("client-{n}");
            let q = Query {
                client_ids: ClientIds::Same(&id),
                ..query()
            };
            let decision = rules.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
            decision.mapping() == Some("Firefox-61.0")
        })
        .count();
    assert!(
        (2_800..=3_200).contains(&served),
        "{served} of 10,000 at 30 %"
    );
}

#[test]
fn without_an_identifier_a_sticky_rule_rolls_the_dice() {
    let rules = sticky_set(Some("query:clientId"));
    let other_source = vec![("header:X-Client-Id".to_owned(), "client-1".to_owned())];
    let empty = vec![("query:clientId".to_owned(), String::new())];
    for ids in [
        ClientIds::None,
        ClientIds::BySource(&other_source),
        ClientIds::BySource(&empty),
    ] {
        let q = Query {
            client_ids: ids,
            ..query()
        };
        let low = rules.evaluate(&q, &mut FixedRoll(29)).expect("evaluates");
        assert_eq!(low.mapping(), Some("Firefox-61.0"), "{ids:?}");
        let high = rules.evaluate(&q, &mut FixedRoll(30)).expect("evaluates");
        assert_eq!(high.mapping(), Some("Firefox-60.5"), "{ids:?}");
    }
    // A rule that is not sticky ignores identifiers: Balrog's roll.
    let random = sticky_set(None);
    assert!(random.sticky_sources().is_empty());
    let q = Query {
        client_ids: ClientIds::Same("client-1"),
        ..query()
    };
    assert_eq!(
        random
            .evaluate(&q, &mut FixedRoll(30))
            .expect("ok")
            .mapping(),
        Some("Firefox-60.5")
    );
    // force still wins over a sticky roll.
    let forced = Query {
        force: Force::Main,
        client_ids: ClientIds::Same("client-1"),
        ..query()
    };
    let sticky = sticky_set(Some("query:clientId"));
    assert_eq!(
        sticky
            .evaluate(&forced, &mut FixedRoll(99))
            .expect("ok")
            .mapping(),
        Some("Firefox-61.0")
    );
}
