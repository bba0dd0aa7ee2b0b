//! Rule sets and queries the evaluation benchmarks share: a realistic 10-rule Firefox set, and
//! 1,000 rules spread over 20 products.

use serde_json::json;
use shiplog_domain::balrog::{NamedRelease, Query, Rule, RuleChanges, RuleFields, RuleSet};
use shiplog_domain::ReleaseId;

fn rule(rule_id: i64, value: serde_json::Value) -> Rule {
    let serde_json::Value::Object(map) = value else {
        panic!("an object");
    };
    let changes = RuleChanges::parse(&map).expect("valid rule");
    Rule {
        rule_id,
        fields: RuleFields::create(&changes).expect("valid rule"),
        data_version: 1,
    }
}

/// A schema 4 app release as Firefox's look: the patch URL from a `fileUrls` template and the
/// details URL with the client's locale put in (evaluation reads none of these; rendering the
/// answer does).
fn release(name: &str, product: &str, version: &str) -> NamedRelease {
    let locale = json!({"buildID": "20180620000000",
        "completes": [{"from": "*", "filesize": 41_000_000, "hashValue": "c0ffee"}]});
    NamedRelease {
        id: ReleaseId::new(),
        name: name.into(),
        product: product.into(),
        data: json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
            "appVersion": version, "displayVersion": version, "platformVersion": version,
            "detailsUrl": format!("https://www.example.com/%LOCALE%/firefox/{version}/releasenotes/"),
            "fileUrls": {"*": {"completes": {"*": format!(
                "https://download.example.com/?product=firefox-{version}-complete&os=%OS_BOUNCER%&lang=%LOCALE%")}}},
            "platforms": {"WINNT_x86_64-msvc": {"OS_BOUNCER": "win64", "OS_FTP": "win64",
                "locales": {"en-US": locale, "de": locale}}}}),
        read_only: false,
        data_version: 1,
    }
}

/// The shape of a real Firefox rules table: shutoff-like no-mapping rules, desupport by OS,
/// a watershed, channel rules with globs and a rollout at a background rate.
pub fn firefox_ten() -> RuleSet {
    let rules = vec![
        rule(
            1,
            json!({"priority": 500, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "channel": "release", "osVersion": "Windows_NT 5.0,Windows_NT 5.1", "comment": "XP"}),
        ),
        rule(
            2,
            json!({"priority": 400, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0", "product": "Firefox", "channel": "release*", "version": "<56.0"}),
        ),
        rule(
            3,
            json!({"priority": 300, "backgroundRate": 25, "update_type": "minor", "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0", "product": "Firefox", "channel": "release", "version": ">=56.0", "locale": "de,fr,en-US"}),
        ),
        rule(
            4,
            json!({"priority": 250, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "channel": "beta", "buildTarget": "WINNT_x86_64-msvc"}),
        ),
        rule(
            5,
            json!({"priority": 200, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "channel": "aurora*", "memory": "<2048"}),
        ),
        rule(
            6,
            json!({"priority": 150, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "channel": "esr", "version": "60.*"}),
        ),
        rule(
            7,
            json!({"priority": 120, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "channel": "nightly", "buildID": ">=20180101000000"}),
        ),
        rule(
            8,
            json!({"priority": 100, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-61.0", "product": "Firefox", "distribution": "yahoo,bing", "channel": "release"}),
        ),
        rule(
            9,
            json!({"priority": 90, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0", "product": "Firefox", "channel": "release"}),
        ),
        rule(
            10,
            json!({"priority": 0, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0", "product": "Firefox"}),
        ),
    ];
    let releases = vec![
        release("Firefox-60.0", "Firefox", "60.0"),
        release("Firefox-61.0", "Firefox", "61.0"),
    ];
    RuleSet::compile(&rules, &[], releases).expect("compiles")
}

/// 1,000 rules, 50 for each of 20 products, with channel, version and locale conditions.
pub fn thousand_over_twenty_products() -> RuleSet {
    let mut rules = Vec::new();
    let mut releases = Vec::new();
    for p in 0..20 {
        let product = format!("Product{p}");
        releases.push(release(&format!("{product}-61.0"), &product, "61.0"));
        for r in 0..50 {
            let id = p * 50 + r + 1;
            let channel = ["release", "beta", "nightly*", "esr", "aurora"]
                [usize::try_from(r % 5).unwrap_or(0)];
            rules.push(rule(id, json!({
                "priority": 1000 - r * 10, "backgroundRate": 100, "update_type": "minor",
                "mapping": format!("{product}-61.0"), "product": product,
                "channel": channel, "version": format!("<{}.0", 20 + r), "locale": "de,fr,en-US",
            })));
        }
    }
    RuleSet::compile(&rules, &[], releases).expect("compiles")
}

/// Queries a mix of clients send: served, fallen back, unmatched, on globs and cck channels.
pub fn queries() -> Vec<Query<'static>> {
    let base = Query {
        build_id: Some("20180101000000"),
        build_target: Some("WINNT_x86_64-msvc"),
        locale: Some("de"),
        channel: Some("release"),
        os_version: Some("Windows_NT 10.0.0.0 (x64)"),
        header_architecture: Some("Intel"),
        memory: Some(8192),
        ..Query::new("Firefox", "60.0")
    };
    vec![
        base,
        Query {
            version: "55.0.2",
            ..base
        },
        Query {
            channel: Some("release-cck-yahoo"),
            ..base
        },
        Query {
            channel: Some("beta"),
            version: "61.0a1",
            ..base
        },
        Query {
            channel: Some("esr"),
            version: "60.2.0",
            ..base
        },
        Query {
            os_version: Some("Windows_NT 5.1.2600 (x86)"),
            ..base
        },
        Query {
            channel: Some("unknown"),
            ..base
        },
        Query {
            product: "Thunderbird",
            ..base
        },
    ]
}

/// Queries across the 20 products of [`thousand_over_twenty_products`].
pub fn product_queries() -> Vec<Query<'static>> {
    const PRODUCTS: [&str; 4] = ["Product0", "Product7", "Product13", "Product19"];
    let mut out = Vec::new();
    for product in PRODUCTS {
        for (channel, version) in [
            ("release", "60.0"),
            ("nightly-x", "30.0"),
            ("esr", "21.0"),
            ("none", "10.0"),
        ] {
            out.push(Query {
                build_id: Some("20180101000000"),
                build_target: Some("WINNT_x86_64-msvc"),
                locale: Some("de"),
                channel: Some(channel),
                header_architecture: Some("Intel"),
                ..Query::new(product, version)
            });
        }
    }
    out
}
