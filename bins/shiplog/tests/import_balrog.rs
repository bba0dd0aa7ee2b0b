//! `shiplog import balrog --from URL` as an operator runs it, on every backend under test: a
//! second shiplog serves as the source (it speaks Balrog's admin API); named releases with
//! their blobs and read-only flags, rules, shutoffs and permissions arrive; a second run copies
//! nothing twice; a rule the target cannot take is refused with its reason and the rest copied.

use std::process::{Output, Stdio};

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{EmergencyShutoff, ReleaseName, RuleChanges, RuleFields};
use shiplog_domain::{PermissionName, PermissionOptions, UserName};
use shiplog_storage::testing::TestDb;
use shiplog_storage::Store;
use time::OffsetDateTime;

mod common;

use common::{shiplog, Running};

fn run(args: &[&str]) -> Output {
    shiplog().args(args).output().expect("runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serve(db: &str) -> (Running, String) {
    let mut command = common::serve_command(db);
    command.stderr(Stdio::null());
    let (server, address, stdout) = common::start(command);
    common::drain(stdout);
    (server, format!("http://{address}"))
}

fn rule(input: Value) -> RuleFields {
    let Value::Object(map) = input else {
        panic!("an object")
    };
    let map: Map<String, Value> = map;
    RuleFields::create(&RuleChanges::parse(&map).expect("valid changes")).expect("valid")
}

fn stored_rule(input: Value) -> RuleFields {
    let Value::Object(map) = input else {
        panic!("an object")
    };
    RuleFields::create_stored(&RuleChanges::parse_stored(&map).expect("readable")).expect("ok")
}

fn release(store: &Store, name: &str) {
    let blob = json!({"name": name, "schema_version": 1, "hashFunction": "sha512"});
    store
        .insert_named_release(
            &ReleaseName::parse(name).expect("name"),
            "Firefox",
            &blob,
            "alice",
        )
        .expect("release");
}

/// The source: two releases (one read-only), two rules mapping them, a rule as only Balrog's
/// database holds them, a shutoff, a permission.
fn fill(source: &Store) {
    release(source, "Firefox-60.0-build1");
    release(source, "Firefox-61.0-build1");
    source
        .set_release_read_only("Firefox-61.0-build1", true, 1, "alice")
        .expect("read-only");
    source
        .insert_rule(
            &rule(
                json!({"product": "Firefox", "channel": "release", "mapping": "Firefox-60.0-build1",
                "backgroundRate": 100, "priority": 90, "update_type": "minor"}),
            ),
            "alice",
        )
        .expect("rule");
    source
        .insert_rule(
            &rule(
                json!({"alias": "beta", "product": "Firefox", "channel": "beta",
                "mapping": "Firefox-61.0-build1", "backgroundRate": 25, "priority": 80,
                "update_type": "minor", "version": "<61.0"}),
            ),
            "alice",
        )
        .expect("rule");
    // As Balrog databases hold rules its admin API would refuse today: no mapping, a version
    // list mixing operators; and shiplog's own sticky rollout.
    source
        .insert_rule(
            &stored_rule(
                json!({"product": "Firefox", "channel": "esr", "mapping": null,
                "backgroundRate": 50, "priority": 70, "update_type": "minor",
                "version": "<56.0,>=60.0", "stickyBy": "query:clientId"}),
            ),
            "alice",
        )
        .expect("rule");
    source
        .insert_emergency_shutoff(
            &EmergencyShutoff {
                product: "Firefox".into(),
                channel: "nightly".into(),
                comment: Some("bad build".into()),
                data_version: 1,
            },
            "alice",
        )
        .expect("shutoff");
    source
        .put_permission(
            &UserName::parse("relman").expect("user"),
            PermissionName::Rule,
            &PermissionOptions {
                products: Some(vec!["Firefox".into()]),
                actions: None,
            },
            None,
            "alice",
            OffsetDateTime::now_utc(),
        )
        .expect("permission");
}

#[test]
fn a_running_balrog_is_copied_once_releases_before_rules() {
    for (source_db, target_db) in TestDb::all().into_iter().zip(TestDb::all()) {
        let (source, target) = (source_db.store(), target_db.store());
        eprintln!("--- on {}", target.backend().name());
        fill(&source);
        let (_server, base) = serve(source_db.url());
        let copy = || {
            run(&[
                "import",
                "balrog",
                "--from",
                &base,
                "--quiet",
                "--recorded-by",
                "migration",
                "--database-url",
                target_db.url(),
            ])
        };

        let first = copy();
        let text = stdout(&first);
        assert!(
            first.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&first.stderr)
        );
        assert!(
            text.contains("copied 2 releases, 3 rules, 1 emergency shutoffs and 1 permissions")
                && text.contains("0 were here already; 0 refused"),
            "{text}"
        );
        for name in ["Firefox-60.0-build1", "Firefox-61.0-build1"] {
            let (here, there) = (
                target
                    .find_named_release(name)
                    .expect("read")
                    .expect("copied"),
                source
                    .find_named_release(name)
                    .expect("read")
                    .expect("source"),
            );
            assert_eq!(here.data, there.data, "{name}: the blob");
            assert_eq!(here.product, there.product);
            assert_eq!(here.read_only, there.read_only, "{name}: read-only");
        }
        let fields = |store: &Store| -> Vec<RuleFields> {
            store
                .list_rules(None)
                .expect("rules")
                .into_iter()
                .map(|r| r.fields)
                .collect()
        };
        let mut copied_rules = fields(&target);
        let mut source_rules = fields(&source);
        copied_rules.sort_by_key(|f| format!("{f:?}"));
        source_rules.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(copied_rules, source_rules);
        assert_eq!(
            target.list_emergency_shutoffs().expect("shutoffs"),
            source.list_emergency_shutoffs().expect("shutoffs")
        );
        let relman = UserName::parse("relman").expect("user");
        let granted = target
            .find_permission(&relman, PermissionName::Rule)
            .expect("read")
            .expect("copied");
        assert_eq!(
            granted.options.products.as_deref(),
            Some(&["Firefox".to_owned()][..])
        );

        // Again: nothing twice.
        let again = copy();
        let text = stdout(&again);
        assert!(again.status.success(), "{text}");
        assert!(
            text.contains("copied 0 releases, 0 rules, 0 emergency shutoffs and 0 permissions")
                && text.contains("7 were here already; 0 refused"),
            "{text}"
        );
        assert_eq!(target.list_rules(None).expect("rules").len(), 3);

        // The target holds alias `gamma` for another rule: the source's is refused, named.
        target
            .insert_rule(
                &rule(
                    json!({"alias": "gamma", "product": "Thunderbird", "channel": "release",
                    "mapping": "Firefox-60.0-build1", "backgroundRate": 100, "priority": 10,
                    "update_type": "minor"}),
                ),
                "bob",
            )
            .expect("rule");
        source
            .insert_rule(
                &rule(
                    json!({"alias": "gamma", "product": "Firefox", "channel": "aurora",
                    "mapping": "Firefox-60.0-build1", "backgroundRate": 100, "priority": 70,
                    "update_type": "minor"}),
                ),
                "alice",
            )
            .expect("rule");
        let third = copy();
        let text = stdout(&third);
        assert!(!third.status.success(), "{text}");
        assert!(
            text.contains("copied 0 releases, 0 rules") && text.contains("1 refused"),
            "{text}"
        );
        assert!(
            text.contains("refused rule 4: ") && text.contains("gamma"),
            "{text}"
        );
        assert_eq!(target.list_rules(None).expect("rules").len(), 4);
    }
}

#[test]
fn a_source_that_is_not_balrog_is_named_and_nothing_is_written() {
    let target = TestDb::sqlite();
    let store = target.store();
    for (from, part) in [
        ("ftp://example.com", "expected an http:// or https:// URL"),
        ("http://127.0.0.1:9", "GET http://127.0.0.1:9/api/releases"),
    ] {
        let out = run(&[
            "import",
            "balrog",
            "--from",
            from,
            "--database-url",
            target.url(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from}");
        assert!(stderr.contains(part), "{from}: {stderr}");
    }
    assert!(store.list_rules(None).expect("rules").is_empty());
}
