//! The data every run starts from: 25,000 releases (50 users, 1–3 packages each) imported in
//! batches, and a realistic ten-rule Firefox rules table with the releases it maps to.

use serde_json::{json, Value};

use crate::client::Conn;
use crate::server::TOKEN;

/// Users the seeded releases are spread over (so `?user=` pages pick 1 in 50).
pub const USERS: usize = 50;

pub fn auth_headers() -> String {
    format!("Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n")
}

async fn post(conn: &mut Conn, path: &str, body: &Value, expect: u16) -> Result<Value, String> {
    let reply = conn
        .send("POST", path, &auth_headers(), body.to_string().as_bytes())
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    if reply.status != expect {
        return Err(format!("POST {path} answered {}: {text}", reply.status));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// An import document of `count` finished releases starting at number `first`, each with
/// `packages` packages (0 means 1–3 by release number).
pub fn import_doc(first: usize, count: usize, packages: usize, user: Option<&str>) -> Value {
    let base = 1_450_371_724_usize;
    let releases: Vec<Value> = (first..first + count)
        .map(|i| {
            let n = if packages == 0 { 1 + i % 3 } else { packages };
            let stime = base + i * 60;
            let pkgs: Vec<Value> = (0..n)
                .map(|p| {
                    json!({"name": format!("pkg{p}"), "version": format!("1.{i}"),
                           "status": if i % 17 == 0 { "FAILED" } else { "SUCCESSFUL" },
                           "stime": stime, "ftime": stime + 20})
                })
                .collect();
            let user = user.map_or_else(|| format!("user{}", i % USERS), str::to_owned);
            json!({"user": user, "team": format!("team{}", i % 5),
                   "platforms": [format!("site{}", i % 3)], "references": [format!("T-{i}")],
                   "stime": stime, "ftime": stime + 30, "packages": pkgs})
        })
        .collect();
    Value::Array(releases)
}

/// Imports `total` releases in batches of 1,000 and returns their ids.
pub async fn releases(address: &str, total: usize) -> Result<Vec<String>, String> {
    let mut conn = Conn::new(address);
    let mut ids = Vec::with_capacity(total);
    let mut first = 0;
    while first < total {
        let count = (total - first).min(1_000);
        let reply = post(
            &mut conn,
            "/releases/import",
            &import_doc(first, count, 0, None),
            200,
        )
        .await?;
        let got = reply["releases"]
            .as_array()
            .ok_or("the import answer has no releases list")?;
        ids.extend(got.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        first += count;
    }
    Ok(ids)
}

fn named_release(name: &str, version: &str, build: &str) -> Value {
    let locale = json!({"buildID": build,
        "completes": [{"from": "*", "filesize": 41, "hashValue": "c"}],
        "partials": [{"from": "Firefox-60.0", "filesize": 8, "hashValue": "p"}]});
    json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
        "appVersion": version, "displayVersion": version,
        "detailsUrl": format!("https://www.example.com/%LOCALE%/firefox/{version}/"),
        "fileUrls": {"*": {"completes": {"*": format!("https://dl.example.com/{version}/%LOCALE%.complete.mar")},
                           "partials": {"Firefox-60.0": format!("https://dl.example.com/{version}/%LOCALE%.partial.mar")}}},
        "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": locale, "en-US": locale, "fr": locale}}}})
}

/// The shape of a real Firefox rules table (shutoff-like rules, desupport by OS, a watershed,
/// channel globs, a rollout at a background rate), over two releases.
pub async fn rules(address: &str) -> Result<(), String> {
    let mut conn = Conn::new(address);
    for (name, version, build) in [
        ("Firefox-60.0", "60.0", "20180501000000"),
        ("Firefox-61.0", "61.0", "20180620000000"),
    ] {
        let blob = named_release(name, version, build);
        post(
            &mut conn,
            "/api/releases",
            &json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
            201,
        )
        .await?;
    }
    let rules = [
        json!({"priority": 500, "mapping": "Firefox-61.0", "channel": "release", "osVersion": "Windows_NT 5.0,Windows_NT 5.1", "comment": "XP"}),
        json!({"priority": 400, "mapping": "Firefox-60.0", "channel": "release*", "version": "<56.0"}),
        json!({"priority": 300, "backgroundRate": 25, "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0", "channel": "release", "version": ">=56.0", "locale": "de,fr,en-US"}),
        json!({"priority": 250, "mapping": "Firefox-61.0", "channel": "beta", "buildTarget": "WINNT_x86_64-msvc"}),
        json!({"priority": 200, "mapping": "Firefox-61.0", "channel": "aurora*", "memory": "<2048"}),
        json!({"priority": 150, "mapping": "Firefox-61.0", "channel": "esr", "version": "60.*"}),
        json!({"priority": 120, "mapping": "Firefox-61.0", "channel": "nightly", "buildID": ">=20180101000000"}),
        json!({"priority": 100, "mapping": "Firefox-61.0", "distribution": "yahoo,bing", "channel": "release"}),
        json!({"priority": 90, "mapping": "Firefox-60.0", "channel": "release"}),
        json!({"priority": 0, "mapping": "Firefox-60.0"}),
    ];
    for mut rule in rules {
        let fields = rule.as_object_mut().ok_or("a rule is an object")?;
        fields.entry("backgroundRate").or_insert_with(|| json!(100));
        fields.insert("update_type".into(), json!("minor"));
        fields.insert("product".into(), json!("Firefox"));
        post(&mut conn, "/api/rules", &rule, 200).await?;
    }
    Ok(())
}
