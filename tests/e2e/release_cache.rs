//! The release cache and the kept counts over HTTP, on every backend: two instances on one
//! database, each with a cache of its own. Every write through either is read at once through
//! both, by id, in a page and in a page's `X-Total-Count`, and the reads that found a release or
//! a count kept, and PostgreSQL's gathered reads by id, show in `/metrics`.

use serde_json::{json, Value};
use shiplog_storage::Backend;
use shiplog_tests::TestServer;

use crate::ops::sample;

/// The release as `server` answers it by id and as the first of its user's page.
fn reads(server: &TestServer, id: &str) -> [Value; 2] {
    let by_id = server.get(&format!("/releases/{id}")).expect(200).json();
    let page = server
        .get("/releases?user=cache-user&limit=10")
        .expect(200)
        .json();
    [by_id["releases"][0].clone(), page["releases"][0].clone()]
}

#[test]
fn a_write_through_either_instance_is_read_at_once_through_both() {
    TestServer::each_backend(|first| {
        let second = first.second_instance();
        let created = first.post(
            "/releases",
            &json!({"user": "cache-user", "platforms": ["eu"], "note": "one"}),
        );
        let id = created.expect(200).json()["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        // Both instances read the release, and so keep it.
        let agree = |step: &str| -> Value {
            let [ours, ..] = reads(first, &id);
            for server in [first, &second] {
                for read in reads(server, &id) {
                    assert_eq!(read, ours, "{} after {step}", first.backend.name());
                }
            }
            ours
        };
        agree("the create");
        first
            .post(&format!("/releases/{id}/notes"), &json!({"text": "two"}))
            .expect(204);
        assert_eq!(
            agree("a note through the first")["notes"],
            json!(["one", "two"])
        );
        second
            .post(&format!("/releases/{id}/metadata"), &json!({"build": "7"}))
            .expect(204);
        assert_eq!(
            agree("metadata through the second")["metadata"]["build"],
            "7"
        );
        let package = first
            .post(
                &format!("/releases/{id}/packages"),
                &json!({"name": "api", "version": "2.0"}),
            )
            .expect(200)
            .json()["id"]
            .as_str()
            .expect("a package id")
            .to_owned();
        assert_eq!(agree("a package")["packages"][0]["status"], "NOT_STARTED");
        second
            .post_empty(&format!("/releases/{id}/packages/{package}/start"))
            .expect(204);
        assert_eq!(agree("its start")["packages"][0]["status"], "IN_PROGRESS");
        first
            .post(
                &format!("/releases/{id}/packages/{package}/stop"),
                &json!({"success": false}),
            )
            .expect(204);
        let stopped = agree("its stop");
        assert_eq!(stopped["packages"][0]["status"], "FAILED");
        assert_eq!(stopped["status"], "FAILED");
        second
            .post_empty(&format!("/releases/{id}/stop"))
            .expect(204);
        assert!(agree("the release's stop")["ftime"].is_string());

        let metrics = second.get("/metrics").expect(200).text.clone();
        let hits = sample(&metrics, "shiplog_release_cache_hits_total").expect("hits");
        let kept = sample(&metrics, "shiplog_release_cache_releases").expect("kept");
        assert!(sample(&metrics, "shiplog_release_cache_misses_total").is_some());
        assert!(sample(&metrics, "shiplog_release_cache_size_bytes").is_some_and(|b| b > 0.0));
        // Each step read the release four times per instance, twice after the write that
        // moved it on: some reads found it kept.
        assert!(hits >= 1.0 && kept >= 1.0, "{metrics}");
        // On PostgreSQL a read by id is gathered with other requests' (one at a time here).
        let gathered = sample(&metrics, "shiplog_gathered_reads_total").expect("gathered");
        let batches = sample(&metrics, "shiplog_gathered_batches_total").expect("batches");
        match first.backend {
            Backend::Sqlite => assert_eq!((gathered, batches), (0.0, 0.0)),
            Backend::Postgres => assert!(gathered >= 7.0 && batches >= 1.0, "{metrics}"),
        }
    });
}

/// A list's total, asked twice of each instance after every write through either: the second
/// ask of an unchanged database is told from memory, and never out of date.
#[test]
fn a_list_total_follows_every_write_through_either_instance() {
    TestServer::each_backend(|first| {
        let second = first.second_instance();
        let total = |server: &TestServer| -> String {
            let reply = server.get("/releases?user=count-user&limit=1");
            reply
                .expect(200)
                .header("X-Total-Count")
                .expect("a total")
                .to_owned()
        };
        for n in 1..=4 {
            let writer = if n % 2 == 0 { &second } else { first };
            writer
                .post(
                    "/releases",
                    &json!({"user": "count-user", "platforms": ["eu"]}),
                )
                .expect(200);
            for server in [first, &second, first, &second] {
                assert_eq!(total(server), n.to_string(), "{}", first.backend.name());
            }
        }
        let metrics = first.get("/metrics").expect(200).text.clone();
        let hits = sample(&metrics, "shiplog_count_memo_hits_total").expect("hits");
        let misses = sample(&metrics, "shiplog_count_memo_misses_total").expect("misses");
        match first.backend {
            // The first of the two asks after a write counts; the second is told.
            Backend::Sqlite => assert!(hits >= 1.0 && misses >= 1.0, "{metrics}"),
            // Every commit on the server, other tests' too, moves PostgreSQL's snapshot on:
            // whether the second ask was told depends on them.
            Backend::Postgres => assert!(misses >= 1.0 && hits + misses == 8.0, "{metrics}"),
        }
    });
}
