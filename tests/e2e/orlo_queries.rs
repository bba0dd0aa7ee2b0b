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

/// Every documented filter (and the extras Orlo accepts) over one imported history.
#[test]
fn every_release_and_package_filter() {
    TestServer::each_backend(|server| {
        let doc = json!([
            {"user": "alice", "team": "core", "platforms": ["eu"], "references": ["JIRA-1"],
             "stime": "2020-01-01T10:00:00Z", "ftime": "2020-01-01T10:05:00Z",
             "packages": [{"name": "web", "version": "1.0", "status": "SUCCESSFUL",
                           "stime": "2020-01-01T10:00:00Z", "ftime": "2020-01-01T10:01:00Z", "diff_url": "http://d/1"}]},
            {"user": "bob", "platforms": ["us"], "references": ["JIRA-2"],
             "stime": "2020-01-02T10:00:00Z", "ftime": "2020-01-02T12:00:00Z",
             "packages": [{"name": "api", "version": "2.0", "status": "FAILED", "rollback": true,
                           "stime": "2020-01-02T10:00:00Z", "ftime": "2020-01-02T11:00:00Z"}]},
            {"user": "carol", "team": "web", "platforms": ["eu", "us"],
             "stime": "2020-01-03T10:00:00Z",
             "packages": [{"name": "web", "version": "1.1", "status": "IN_PROGRESS", "stime": "2020-01-03T10:00:00Z"},
                          {"name": "api", "version": "2.1", "status": "NOT_STARTED"}]}
        ]);
        let ids: Vec<String> = server.post("/releases/import", &doc).expect(200).json()["releases"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_owned())
            .collect();
        let releases = |query: &str| -> Vec<String> {
            let reply = server.get(&format!("/releases?asc=true&{query}"));
            if reply.status == 404 {
                return vec![];
            }
            reply.expect(200);
            reply.json()["releases"]
                .as_array()
                .expect("list")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned())
                .collect()
        };
        let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
        for (query, expected) in [
            (format!("id={b}"), vec![b.clone()]),
            ("user=carol".into(), vec![c.clone()]),
            ("team=core".into(), vec![a.clone()]),
            ("team=null".into(), vec![b.clone()]),
            ("team=None".into(), vec![b.clone()]),
            ("platform=us".into(), vec![b.clone(), c.clone()]),
            ("reference=JIRA".into(), vec![a.clone(), b.clone()]),
            ("reference=jira-2".into(), vec![b.clone()]),
            ("stime=2020-01-02T10:00:00Z".into(), vec![b.clone()]),
            ("stime_before=2020-01-02T10:00:00Z".into(), vec![a.clone()]),
            ("stime_after=2020-01-02T10:00:00Z".into(), vec![c.clone()]),
            (
                "stime_gt=2020-01-01".into(),
                vec![a.clone(), b.clone(), c.clone()],
            ),
            ("stime_lt=1577959200".into(), vec![a.clone()]),
            ("ftime_after=2020-01-01T10:05:00Z".into(), vec![b.clone()]),
            (
                "ftime_before=2020-01-02T00:00:00%2B00:00".into(),
                vec![a.clone()],
            ),
            ("ftime=null".into(), vec![c.clone()]),
            ("duration_lt=3600".into(), vec![a.clone()]),
            ("duration_gt=300".into(), vec![b.clone()]),
            ("duration=300".into(), vec![a.clone()]),
            ("status=SUCCESSFUL".into(), vec![a.clone()]),
            ("status=FAILED".into(), vec![b.clone()]),
            ("status=IN_PROGRESS".into(), vec![c.clone()]),
            ("status=NOT_STARTED".into(), vec![]),
            ("package_name=web".into(), vec![a.clone(), c.clone()]),
            ("package_version=2.1".into(), vec![c.clone()]),
            ("package_status=NOT_STARTED".into(), vec![c.clone()]),
            ("package_name=web&package_status=FAILED".into(), vec![]),
            ("package_rollback=true".into(), vec![b.clone()]),
            ("package_rollback=F".into(), vec![a.clone(), c.clone()]),
            ("package_diff_url=http://d/1".into(), vec![a.clone()]),
            ("package_duration_gt=60".into(), vec![b.clone()]),
            ("package_duration_lt=61".into(), vec![a.clone()]),
            (
                "package_stime_after=2020-01-02T12:00:00Z".into(),
                vec![c.clone()],
            ),
            (
                "package_ftime_before=2020-01-02T00:00:00Z".into(),
                vec![a.clone()],
            ),
            ("latest=true&user=alice".into(), vec![a.clone()]),
            ("user=alice&user=bob".into(), vec![a.clone()]),
        ] {
            assert_eq!(releases(&query), expected, "{query}");
        }
        assert_eq!(releases("asc=false&limit=1").len(), 1);

        let packages = |query: &str| -> Vec<(String, String)> {
            let reply = server.get(&format!("/packages?{query}"));
            if reply.status == 404 {
                return vec![];
            }
            reply.expect(200);
            reply.json()["packages"]
                .as_array()
                .expect("list")
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_owned(),
                        p["version"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        };
        let pv = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        // An imported package without a start time starts with its release, so api 2.1 ties
        // with web 1.1 (the tie order is by id).
        let all = packages("");
        assert_eq!(all.len(), 4);
        let mut newest = all[..2].to_vec();
        newest.sort();
        assert_eq!(
            newest,
            [pv("api", "2.1"), pv("web", "1.1")],
            "newest start first"
        );
        assert_eq!(all[2..], [pv("api", "2.0"), pv("web", "1.0")]);
        assert_eq!(
            packages("asc=true&name=web"),
            [pv("web", "1.0"), pv("web", "1.1")]
        );
        assert_eq!(packages("status=FAILED"), [pv("api", "2.0")]);
        assert_eq!(packages("rollback=true"), [pv("api", "2.0")]);
        assert_eq!(packages("version=2.1"), [pv("api", "2.1")]);
        let mut of_c = packages(&format!("release_id={c}"));
        of_c.sort();
        assert_eq!(of_c, [pv("api", "2.1"), pv("web", "1.1")]);
        assert_eq!(
            packages("stime_before=2020-01-02T00:00:00Z"),
            [pv("web", "1.0")]
        );
        assert_eq!(packages("duration_gt=60"), [pv("api", "2.0")]);
        assert_eq!(
            packages("diff_url=null&status=NOT_STARTED"),
            [pv("api", "2.1")]
        );
        assert_eq!(
            packages("ftime=null&status=IN_PROGRESS"),
            [pv("web", "1.1")]
        );
        assert_eq!(packages("limit=1&offset=2"), [pv("api", "2.0")]);
        for bad in [
            "/packages?status=done",
            "/packages?rollback=perhaps",
            "/packages?release_id=x",
            "/packages?stime_after=x",
            "/packages?team=x",
        ] {
            server.get(bad).expect(400);
        }
    });
}
