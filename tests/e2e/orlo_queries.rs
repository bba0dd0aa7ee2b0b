//! Listings over HTTP: filters, paging, order and their errors.

use serde_json::json;
use shiplog_tests::TestServer;

fn ids(reply: &shiplog_tests::Reply) -> Vec<String> {
    reply.json()["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn release_listing_filters_and_pages() {
    TestServer::each_backend(|server| {
        server.get("/releases").expect(404);
        let mut created = Vec::new();
        for (user, team, platforms) in [
            ("alice", "core", json!(["eu", "us"])),
            ("bob", "core", json!(["eu"])),
            ("alice", "web", json!(["us"])),
        ] {
            let id = server
                .post(
                    "/releases",
                    &json!({"user": user, "team": team, "platforms": platforms}),
                )
                .expect(200)
                .json()["id"]
                .as_str()
                .expect("id")
                .to_owned();
            created.push(id);
        }
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();
        assert_eq!(ids(server.get("/releases").expect(200)), newest_first);
        assert_eq!(ids(server.get("/releases?asc=true").expect(200)), created);
        assert_eq!(
            ids(server.get("/releases?asc=false").expect(200)),
            newest_first
        );
        assert_eq!(
            ids(server.get("/releases?limit=1").expect(200)),
            [newest_first[0].clone()]
        );
        assert_eq!(
            ids(server.get("/releases?limit=1&offset=1").expect(200)),
            [newest_first[1].clone()]
        );
        assert_eq!(
            ids(server.get("/releases?user=alice&asc=1").expect(200)),
            [created[0].clone(), created[2].clone()]
        );
        assert_eq!(
            ids(server.get("/releases?team=core&platform=us").expect(200)),
            [created[0].clone()]
        );
        assert_eq!(
            ids(server.get("/releases/?platform=eu&asc=true").expect(200)),
            [created[0].clone(), created[1].clone()]
        );
        server.get("/releases?user=nobody").expect(404);
        server.get("/releases?limit=0").expect(404);
        server
            .get(&format!("/releases/{}?user=bob", created[0]))
            .expect(404);
        server
            .get(&format!("/releases/{}?user=alice", created[0]))
            .expect(200);

        for bad in [
            "/releases?limit=ten",
            "/releases?offset=x",
            "/releases?bogus=1",
            "/releases?status=DONE",
            "/releases?stime_after=noon",
        ] {
            let reply = server.get(bad);
            reply.expect(400);
            assert!(reply.json()["message"].is_string());
        }
        let pkg_listing = server.get("/packages?package_name=x");
        pkg_listing.expect(400);
        server.get("/packages").expect(404);
    });
}
