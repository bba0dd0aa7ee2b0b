//! Property tests for the readers of query strings, which take whatever a client sends: the
//! edge check of every URL, Orlo's listing filters and the evaluation query. Each must answer
//! (a value or a 4xx), never panic; the edge check must refuse exactly the control characters
//! the input policy refuses and never echo a value.

use proptest::prelude::*;
use shiplog_api::native::parse_query;
use shiplog_api::orlo::params::{package_query, pairs, release_query};
use shiplog_api::url_input::url_problem;

/// `%XX` for every byte that is not unreserved, as a client would encode it.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,20}",
        "[a-z0-9 :.TZ-]{0,20}",
        "[a-z\\x00-\\x1f\\x7f\u{80}-\u{9f}]{0,8}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "limit",
            "offset",
            "asc",
            "user",
            "team",
            "platform",
            "status",
            "stime_before",
            "stime_after",
            "duration_lt",
            "package_name",
            "package_status",
            "product",
            "version",
            "channel",
            "memory",
            "force",
            "token",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..6)
}

fn encoded(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn refused_in_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_edge_refuses_exactly_the_control_characters_of_the_policy(
        params in query(),
        segment in value(),
    ) {
        let query = encoded(&params);
        let refused = params.iter().any(|(_, v)| v.chars().any(refused_in_text));
        let problem = url_problem("/releases", &query);
        prop_assert_eq!(problem.is_some(), refused, "{}", query);
        if let Some(message) = problem {
            for (_, v) in &params {
                // Short values may occur in the message's own words; long ones may not.
                prop_assert!(v.len() < 8 || !message.contains(v.as_str()), "echoed {:?}", v);
            }
        }
        let path = format!("/api/rules/{}", encode(&segment));
        prop_assert_eq!(
            url_problem(&path, "").is_some(),
            segment.chars().any(char::is_control)
        );
    }

    #[test]
    fn orlo_and_evaluation_queries_answer_without_panicking(
        params in query(),
        raw in "\\PC{0,40}",
    ) {
        for query in [encoded(&params), raw] {
            if let Ok(decoded) = pairs(&query) {
                let _ = release_query(&decoded);
                let _ = package_query(&decoded);
            }
            let _ = parse_query(&query);
            let _ = url_problem("/", &query);
        }
    }
}
