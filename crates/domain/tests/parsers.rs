//! Property tests for every domain parser that reads outside input: timestamps, Balrog rule
//! conditions and rule bodies, blobs and their 3-way merge, permission options and Bileto
//! bodies. Each must be total (an error, never a panic, whatever the input), and what it
//! accepts must obey the input policy, so no accepted value can fail in a database.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use shiplog_domain::balrog::rule::FieldValue;
use shiplog_domain::balrog::{merge3, syntax, BlobEdit, RuleChanges, RuleField, RuleFields};
use shiplog_domain::input::{self, TextKind};
use shiplog_domain::{
    timestamp, NewComment, PermissionName, PermissionOptions, TicketField, TicketWrite,
};

/// Text of the kinds clients send, hostile characters included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,30}",
        "[0-9 .:TZ+-]{0,30}",
        "[<>=!.0-9a-z*\\x00\\x1b\u{85}, ]{0,30}",
        Just(String::new()),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON objects whose keys are, mostly, the fields a body may name.
fn body(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => text(),
    ];
    let value = prop_oneof![
        3 => text().prop_map(Value::String),
        1 => json_value(),
    ];
    prop::collection::btree_map(key, value, 0..8).prop_map(|m| m.into_iter().collect())
}

const RULE_KEYS: &[&str] = &[
    "alias",
    "priority",
    "mapping",
    "fallbackMapping",
    "backgroundRate",
    "update_type",
    "product",
    "version",
    "channel",
    "buildTarget",
    "buildID",
    "locale",
    "osVersion",
    "memory",
    "instructionSet",
    "distribution",
    "distVersion",
    "headerArchitecture",
    "mig64",
    "jaws",
    "whitelist",
    "comment",
];

const TICKET_KEYS: &[&str] = &[
    "request_id",
    "author",
    "description",
    "status",
    "qa_signoff",
    "landers",
    "text",
    "date",
];

/// How many generated rule bodies were accepted: the property must not hold vacuously.
static ACCEPTED_RULES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn generated_rule_bodies_are_often_accepted() {
    accepted_rule_bodies_obey_the_input_policy();
    assert!(ACCEPTED_RULES.load(std::sync::atomic::Ordering::Relaxed) > 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn timestamps_parse_or_refuse_and_round_trip(raw in text(), secs in -1_000_000_000i64..4_000_000_000) {
        // Any text: a value or an error, never a panic.
        let _ = timestamp::parse(&raw);
        let _ = timestamp::from_json(&Value::String(raw));
        // What shiplog prints, it reads back to the same second.
        let t = time::OffsetDateTime::from_unix_timestamp(secs).expect("in range");
        let printed = timestamp::format(t);
        prop_assert_eq!(timestamp::parse(&printed).expect("its own format"), t);
        prop_assert_eq!(timestamp::parse(&secs.to_string()).expect("unix seconds"), t);
    }

    #[test]
    fn rule_conditions_are_checked_without_panicking(raw in text(), loose in any::<bool>()) {
        let _ = syntax::check_version_condition(&raw, loose);
        let _ = syntax::check_integer_condition(&raw);
        let _ = syntax::split_operator(&raw);
        let _ = syntax::is_mozilla_version(&raw);
        if syntax::is_alias(&raw) {
            prop_assert!(raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
    }

    #[test]
    fn accepted_rule_bodies_obey_the_input_policy(fields in body(RULE_KEYS)) {
        // Random conditions on top of the required columns, so many bodies are accepted.
        let mut body = json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                              "mapping": "m"});
        let map = body.as_object_mut().expect("an object");
        for (key, value) in fields {
            if !map.contains_key(&key) {
                map.insert(key, value);
            }
        }
        let Ok(changes) = RuleChanges::parse(map) else { return Ok(()) };
        let Ok(rule) = RuleFields::create(&changes) else { return Ok(()) };
        ACCEPTED_RULES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Every text column of an accepted rule is storable on either backend.
        for field in RuleField::ALL {
            if let FieldValue::Text(Some(s)) = rule.get(field) {
                let kind = if field == RuleField::Comment { TextKind::Text } else { TextKind::Condition };
                prop_assert_eq!(input::problem(&s, kind), None, "{:?} = {:?}", field, s);
            }
        }
    }

    #[test]
    fn blob_merges_are_total_and_agree_when_one_side_is_unchanged(
        base in json_value(),
        theirs in json_value(),
        edit in body(&["platforms", "name", "schema_version"]),
    ) {
        // A merge is a value or a conflict, never a panic.
        let _ = merge3(&base, &theirs, &edit.clone().into());
        // Merging a change against an unchanged side gives the change.
        prop_assert_eq!(merge3(&base, &base, &theirs).ok(), Some(theirs.clone()));
        prop_assert_eq!(merge3(&base, &theirs, &base).ok(), Some(theirs));
        let _ = BlobEdit::MergeTopLevel(edit).apply(&base);
    }

    #[test]
    fn permission_options_parse_or_refuse(options in json_value(), products in prop::collection::vec(text(), 0..4)) {
        for name in [PermissionName::Admin, PermissionName::Rule, PermissionName::Release] {
            let _ = PermissionOptions::parse(name, &options);
            if let Ok(parsed) = PermissionOptions::parse(name, &json!({"products": products})) {
                for product in parsed.products.unwrap_or_default() {
                    prop_assert_eq!(input::problem(&product, TextKind::Name), None);
                }
            }
        }
    }

    #[test]
    fn bileto_bodies_parse_or_refuse_and_accepted_text_is_storable(fields in body(TICKET_KEYS)) {
        let value = Value::Object(fields);
        let _ = NewComment::from_json(&value, "bot");
        if let Ok(TicketWrite::Create(ticket)) = TicketWrite::from_json(&value, "bot") {
            for field in TicketField::ALL {
                prop_assert_eq!(input::problem(ticket.fields.get(field), TextKind::Text), None);
            }
        }
    }
}
