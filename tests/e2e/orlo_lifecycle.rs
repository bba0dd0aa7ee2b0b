//! A release recorded from start to finish through the Orlo API, checked field by field.

use serde_json::{json, Value};
use shiplog_tests::TestServer;

fn create_release(server: &TestServer, body: Value) -> String {
    let reply = server.post("/releases", &body);
    reply.expect(200);
    let id = reply.json()["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        reply.json().as_object().expect("object").len(),
        1,
        "only the id: {}",
        reply.text
    );
    id
}

fn add_package(server: &TestServer, release: &str, body: Value) -> String {
    let reply = server.post(&format!("/releases/{release}/packages"), &body);
    reply.expect(200);
    reply.json()["id"].as_str().expect("an id").to_owned()
}

#[test]
fn a_release_from_creation_to_finish() {
    TestServer::each_backend(|server| {
        let id = create_release(
            server,
            json!({"note": "blah", "platforms": ["site1"], "references": ["ticket"], "team": "A-Team",
                   "user": "aforbes", "metadata": {"build": 42, "ok": true}}),
        );
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        let web = add_package(
            server,
            &id,
            json!({"name": "test-package", "version": "1.0.1"}),
        );
        let api = add_package(
            server,
            &id,
            json!({"name": "api", "version": "2.0", "rollback": true, "diff_url": "http://d"}),
        );

        let release = server.get(&format!("/releases/{id}")).expect(200).json();
        let r = &release["releases"][0];
        assert_eq!(release["releases"].as_array().map(Vec::len), Some(1));
        assert_eq!(r["id"], json!(id));
        assert_eq!(r["user"], "aforbes");
        assert_eq!(
            r["recorded_by"], "admin",
            "the authenticated caller, beside the reported user"
        );
        assert_eq!(r["team"], "A-Team");
        assert_eq!(r["platforms"], json!(["site1"]));
        assert_eq!(r["references"], json!(["ticket"]));
        assert_eq!(r["notes"], json!(["blah"]));
        assert_eq!(r["metadata"], json!({"build": "42", "ok": "1"}));
        assert_eq!(r["ftime"], Value::Null);
        assert_eq!(r["duration"], Value::Null);
        assert_eq!(r["status"], "NOT_STARTED");
        let stime = r["stime"].as_str().expect("stime");
        assert!(
            stime.len() == 20 && stime.ends_with('Z') && stime.as_bytes()[10] == b'T',
            "Orlo time format: {stime}"
        );
        let pkg = r["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["id"] == json!(web))
            .expect("web package");
        assert_eq!(
            pkg,
            &json!({"id": web, "release_id": id, "name": "test-package", "version": "1.0.1", "status": "NOT_STARTED",
                    "rollback": false, "diff_url": null, "stime": null, "ftime": null, "duration": null})
        );

        server
            .post_empty(&format!("/releases/{id}/start"))
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/packages/{web}/start"))
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/packages/{api}/start"))
            .expect(204);
        let in_progress = server.get(&format!("/releases/{id}")).expect(200).json();
        assert_eq!(in_progress["releases"][0]["status"], "IN_PROGRESS");

        let stop = server.post(
            &format!("/releases/{id}/packages/{web}/stop"),
            &json!({"success": "true"}),
        );
        assert!(stop.expect(204).text.is_empty());
        server
            .post(
                &format!("/releases/{id}/packages/{api}/stop"),
                &json!({"success": false}),
            )
            .expect(204);
        server
            .post(
                &format!("/releases/{id}/packages/{web}/results"),
                &json!({"content": "all good"}),
            )
            .expect(204);
        server
            .post(&format!("/releases/{id}/notes"), &json!({"text": "done"}))
            .expect(204);
        server
            .post(&format!("/releases/{id}/metadata"), &json!({"build": "43"}))
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/stop"))
            .expect(204);

        let done = server.get(&format!("/releases/{id}")).expect(200).json();
        let r = &done["releases"][0];
        assert_eq!(r["status"], "FAILED");
        assert_eq!(r["notes"], json!(["blah", "done"]));
        assert_eq!(r["metadata"]["build"], "43");
        assert!(r["ftime"].is_string());
        assert!(r["duration"].is_i64());
        let package = server.get(&format!("/packages/{web}")).expect(200).json();
        assert_eq!(package["packages"][0]["status"], "SUCCESSFUL");
        assert!(package["packages"][0]["duration"].is_i64());
        let failed = server.get(&format!("/packages/{api}")).expect(200).json();
        assert_eq!(failed["packages"][0]["status"], "FAILED");
        assert_eq!(failed["packages"][0]["rollback"], true);
        assert_eq!(failed["packages"][0]["diff_url"], "http://d");
    });
}

#[test]
fn stop_reads_success_the_way_orlo_does() {
    TestServer::each_backend(|server| {
        let id = create_release(server, json!({"user": "u", "platforms": "site1"}));
        for (success, expected) in [
            (json!({"success": true}), "SUCCESSFUL"),
            (json!({"success": "True"}), "SUCCESSFUL"),
            (json!({"success": "1"}), "SUCCESSFUL"),
            (json!({"success": 1}), "SUCCESSFUL"),
            (json!({"success": "yes"}), "FAILED"),
            (json!({"success": false}), "FAILED"),
            (json!({"other": 1}), "FAILED"),
        ] {
            let pkg = add_package(server, &id, json!({"name": "p", "version": "1"}));
            server
                .post_empty(&format!("/releases/{id}/packages/{pkg}/start"))
                .expect(204);
            server
                .post(&format!("/releases/{id}/packages/{pkg}/stop"), &success)
                .expect(204);
            let got = server.get(&format!("/packages/{pkg}")).expect(200).json();
            assert_eq!(got["packages"][0]["status"], expected, "{success}");
        }
        let release = server.get(&format!("/releases/{id}")).expect(200).json();
        assert_eq!(
            release["releases"][0]["platforms"],
            json!(["site1"]),
            "a string platform is a list of one"
        );
    });
}

#[test]
fn a_package_can_be_restarted_and_stopped_again() {
    TestServer::each_backend(|server| {
        let id = create_release(server, json!({"user": "u", "platforms": ["p"]}));
        let pkg = add_package(server, &id, json!({"name": "p", "version": "1"}));
        server
            .post_empty(&format!("/releases/{id}/packages/{pkg}/start"))
            .expect(204);
        server
            .post(
                &format!("/releases/{id}/packages/{pkg}/stop"),
                &json!({"success": false}),
            )
            .expect(204);
        server
            .post_empty(&format!("/releases/{id}/packages/{pkg}/start"))
            .expect(204);
        let retried = server.get(&format!("/packages/{pkg}")).expect(200).json();
        assert_eq!(retried["packages"][0]["status"], "IN_PROGRESS");
        assert_eq!(retried["packages"][0]["ftime"], Value::Null);
        server
            .post(
                &format!("/releases/{id}/packages/{pkg}/stop"),
                &json!({"success": true}),
            )
            .expect(204);
        server
            .post(
                &format!("/releases/{id}/packages/{pkg}/stop"),
                &json!({"success": true}),
            )
            .expect(204);
    });
}

/// Concurrent writers share commits on SQLite (the write queue groups them): every answered
/// write is kept, a refused one is refused as it is alone, and nothing of it leaks into the
/// writes beside it.
#[test]
fn concurrent_writes_are_each_kept_or_refused_as_they_would_be_alone() {
    TestServer::each_backend(|server| {
        let missing = "00000000-0000-7000-8000-000000000000";
        let alone = server.post(
            &format!("/releases/{missing}/notes"),
            &json!({"text": "nowhere"}),
        );
        let refused_status = alone.status;
        assert!((400..500).contains(&refused_status), "{}", alone.text);
        let ids: Vec<String> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|writer| {
                    scope.spawn(move || {
                        (0..12)
                            .map(|n| {
                                let id = create_release(
                                    server,
                                    json!({"platforms": ["web"], "user": format!("w{writer}")}),
                                );
                                let note = server.post(
                                    &format!("/releases/{id}/notes"),
                                    &json!({"text": format!("note {n}")}),
                                );
                                note.expect(204);
                                let refused = server.post(
                                    &format!("/releases/{missing}/notes"),
                                    &json!({"text": "nowhere"}),
                                );
                                assert_eq!(refused.status, refused_status, "{}", refused.text);
                                id
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            writers
                .into_iter()
                .flat_map(|w| w.join().expect("writer"))
                .collect()
        });
        assert_eq!(ids.len(), 96);
        for id in &ids {
            let reply = server.get(&format!("/releases/{id}"));
            reply.expect(200);
            let notes = &reply.json()["releases"][0]["notes"];
            assert_eq!(notes.as_array().map(Vec::len), Some(1), "{id}: {notes}");
        }
        let page = server.get("/releases?user=w3&limit=-1");
        page.expect(200);
        assert_eq!(page.json()["releases"].as_array().map(Vec::len), Some(12));
    });
}
