//! The JSON update protocol's answer (`/json/{1,2}/…/update.json`), which Guardian-style clients
//! use: Balrog serves it for blobs that answer in JSON, today Guardian blobs (schema 10000).

use serde_json::{json, Value};

use super::query::Query;
use super::rule_set::{Decision, RuleSet};
use super::update_blob::{kind, text, Kind};

/// The answer for a decision, or `None` when nothing is served (the protocol's 404): no release,
/// or a release whose blob does not answer in JSON. A Guardian blob with no file for the
/// client's platform, or one the set's allow-list does not allow, answers `{}`.
pub fn update_json(set: &RuleSet, decision: &Decision<'_>, query: &Query<'_>) -> Option<Value> {
    let release = decision.release?;
    let data = &release.data;
    if kind(data) != Some(Kind::Guardian) {
        return None;
    }
    let platform = data
        .get("platforms")
        .and_then(|p| p.get(query.build_target.unwrap_or("")));
    let url = platform.and_then(|p| text(p, "fileUrl"));
    let Some(url) = url.filter(|url| set.allows_url(url, query.product)) else {
        return Some(json!({}));
    };
    let field = |key: &str| data.get(key).cloned().unwrap_or(Value::Null);
    Some(json!({
        "version": field("version"),
        "url": url,
        "required": field("required"),
        "hashFunction": field("hashFunction"),
        "hashValue": platform.and_then(|p| p.get("hashValue")).cloned().unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balrog::dice::FixedRoll;
    use crate::balrog::named_release::NamedRelease;
    use crate::balrog::rule::{Rule, RuleFields};

    fn set(data: Value) -> RuleSet {
        let fields: RuleFields = serde_json::from_value(json!({
            "alias": null, "priority": 100, "mapping": "G", "fallbackMapping": null,
            "backgroundRate": 100, "update_type": "minor", "product": "Guardian",
            "version": null, "channel": null, "buildTarget": null, "buildID": null,
            "locale": null, "osVersion": null, "memory": null, "instructionSet": null,
            "distribution": null, "distVersion": null, "headerArchitecture": null,
            "mig64": null, "jaws": null, "whitelist": null, "comment": null
        }))
        .expect("fields");
        let rule = Rule {
            rule_id: 1,
            fields,
            data_version: 1,
        };
        let release = NamedRelease {
            id: crate::ReleaseId::new(),
            name: "G".into(),
            product: "Guardian".into(),
            data,
            read_only: false,
            data_version: 1,
        };
        RuleSet::compile(&[rule], &[], vec![release]).expect("compiles")
    }

    fn answer(set: &RuleSet, version: &str, target: &str) -> Option<Value> {
        let query = Query {
            build_target: Some(target),
            channel: Some("release"),
            ..Query::new("Guardian", version)
        };
        let decision = set.evaluate(&query, &mut FixedRoll(0)).expect("evaluates");
        update_json(set, &decision, &query)
    }

    #[test]
    fn a_guardian_blob_answers_its_file_for_the_platform() {
        let set = set(json!({
            "name": "G", "schema_version": 10000, "version": "2.1.0", "required": true,
            "hashFunction": "sha512",
            "platforms": {
                "WINNT_x86_64": {"fileUrl": "https://cdn.example/g.msi", "hashValue": "h"},
                "Darwin_x86_64": {"hashValue": "h"}
            }
        }));
        assert_eq!(
            answer(&set, "2.0.0", "WINNT_x86_64"),
            Some(
                json!({"version": "2.1.0", "url": "https://cdn.example/g.msi", "required": true,
                        "hashFunction": "sha512", "hashValue": "h"})
            )
        );
        assert_eq!(answer(&set, "2.0.0", "Darwin_x86_64"), Some(json!({})));
        assert_eq!(answer(&set, "2.1.0", "WINNT_x86_64"), None);
        assert_eq!(answer(&set, "2.0.0", "Linux"), None);
    }

    #[test]
    fn other_blobs_are_not_served_as_json() {
        let set = set(
            json!({"name": "G", "schema_version": 1000, "hashFunction": "sha512", "vendors": {}}),
        );
        assert_eq!(answer(&set, "1.0", "WINNT_x86_64"), None);
    }
}
