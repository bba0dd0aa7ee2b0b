//! The dashboard at `/ui/` in a real browser (headless Chromium through chromedriver), on every
//! backend: a ledger, rules, a shutoff and a ticket are recorded through the API faces, then
//! every page is loaded at 1400 and 390 CSS pixels wide, its figures read back, its charts'
//! shapes counted, its controls checked for labels, and the console checked for errors.
//! Screenshots go to `target/ui-screenshots/`. The login flow of `--auth all` and the pages'
//! answers to bad input are checked too.

use std::path::PathBuf;

use serde_json::{json, Value};
use shiplog_api::{AuthMode, AuthSettings};
use shiplog_domain::timestamp;
use shiplog_tests::webdriver::{Driver, Session};
use shiplog_tests::{TestServer, ALICE_BEARER, ALICE_TOKEN, BOT_TOKEN};
use time::{Duration, OffsetDateTime, Time};

const AUTH: (&str, &str) = ("Authorization", ALICE_BEARER);
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
}

fn iso(at: OffsetDateTime) -> String {
    timestamp::format(at)
}

/// A package that ran `seconds` from `start`.
fn package(name: &str, version: &str, status: &str, start: OffsetDateTime, seconds: i64) -> Value {
    json!({"name": name, "version": version, "status": status,
           "stime": iso(start), "ftime": iso(start + Duration::seconds(seconds))})
}

/// What the seeded ledger holds, for the assertions.
struct Seeded {
    ticket: i64,
    /// The release with two packages (`api` and `worker`).
    two_packages: String,
    /// The release referencing the ticket.
    with_ticket: String,
    high_rule: i64,
    low_rule: i64,
}

/// Days before today, at `hour` UTC (always in the past, so in the default 30-day window):
/// - R1 core/eu web 1.0 SUCCESSFUL, 5 days ago, notes, metadata, `ticket:N`
/// - R2 core/eu web 1.1 FAILED, 4 days ago
/// - R3 ops/eu web 1.0 SUCCESSFUL but a rollback (a failed deployment), 4 days ago
/// - R4 ops/us api 2.0 + worker 2.0 SUCCESSFUL, 2 days ago
/// - R5 ops/us api 2.1 still IN_PROGRESS, yesterday (not a deployment)
///
/// Rules for Firefox at priorities 90 and 10, a shutoff of Firefox on beta, one ticket.
fn seed(server: &TestServer) -> Seeded {
    let reply = server.request(
        "POST",
        &format!("/v1/tickets?token={BOT_TOKEN}"),
        &[JSON],
        Some(&json!({"description": "land the <fix> & more", "landers": "alice"}).to_string()),
    );
    reply.expect(201);
    let ticket = reply.json()["requests"][0]["request_id"]
        .as_i64()
        .expect("a ticket id");

    let today = OffsetDateTime::now_utc().replace_time(Time::MIDNIGHT);
    let at = |days: i64, hour: i64| today - Duration::days(days) + Duration::hours(hour);
    let release = |team: &str, platform: &str, start: OffsetDateTime, packages: Value| {
        let ends: Vec<OffsetDateTime> = packages
            .as_array()
            .expect("packages")
            .iter()
            .filter_map(|p| p["ftime"].as_str().and_then(|t| timestamp::parse(t).ok()))
            .collect();
        json!({"user": "alice", "team": team, "platforms": [platform], "stime": iso(start),
               "ftime": ends.iter().max().map(|t| iso(*t)), "packages": packages})
    };
    let mut r1 = release(
        "core",
        "eu",
        at(5, 10),
        json!([package("web", "1.0", "SUCCESSFUL", at(5, 10), 300)]),
    );
    r1["notes"] = json!(["deployed by the train"]);
    r1["metadata"] = json!({"commit_time": iso(at(5, 9))});
    r1["references"] = json!(["CHANGE-7", format!("ticket:{ticket}")]);
    let r2 = release(
        "core",
        "eu",
        at(4, 10),
        json!([package("web", "1.1", "FAILED", at(4, 10), 60)]),
    );
    let mut r3 = release(
        "ops",
        "eu",
        at(4, 11),
        json!([package("web", "1.0", "SUCCESSFUL", at(4, 11), 120)]),
    );
    r3["packages"][0]["rollback"] = json!(true);
    let r4 = release(
        "ops",
        "us",
        at(2, 10),
        json!([
            package("api", "2.0", "SUCCESSFUL", at(2, 10), 600),
            package(
                "worker",
                "2.0",
                "SUCCESSFUL",
                at(2, 10) + Duration::minutes(5),
                300
            )
        ]),
    );
    let mut r5 = release(
        "ops",
        "us",
        at(1, 10),
        json!([package("api", "2.1", "IN_PROGRESS", at(1, 10), 10)]),
    );
    r5["packages"][0]["ftime"] = Value::Null;
    r5["ftime"] = Value::Null;
    let reply = server.post("/releases/import", &json!([r1, r2, r3, r4, r5]));
    reply.expect(200);

    let ids = |filter: &str| -> String {
        let reply = server.get(&format!("/releases?{filter}"));
        reply.expect(200);
        reply.json()["releases"][0]["id"]
            .as_str()
            .expect("a release id")
            .to_owned()
    };
    let two_packages = ids("package_name=worker");
    let with_ticket = ids(&format!("reference=ticket:{ticket}"));

    let write = |method: &str, path: &str, body: Value| {
        server.request(method, path, &[AUTH, JSON], Some(&body.to_string()))
    };
    for (name, version) in [("Firefox-60.0", "60.0"), ("Firefox-61.0", "61.0")] {
        let blob = json!({"name": name, "schema_version": 4, "hashFunction": "sha512",
            "appVersion": version, "displayVersion": version,
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180501000000",
                "completes": [{"from": "*", "filesize": 40, "hashValue": "c",
                               "fileUrl": format!("https://dl.example.com/{version}/de.complete.mar")}]}}}}});
        write(
            "POST",
            "/api/releases",
            json!({"name": name, "product": "Firefox", "blob": blob.to_string()}),
        )
        .expect(201);
    }
    let rule = |body: Value| -> i64 {
        let reply = write("POST", "/api/rules", body);
        reply.expect(200);
        reply.text.parse().expect("a rule id")
    };
    let low_rule = rule(
        json!({"priority": 10, "backgroundRate": 100, "update_type": "minor",
        "mapping": "Firefox-60.0", "product": "Firefox", "channel": "release*"}),
    );
    let high_rule = rule(
        json!({"priority": 90, "backgroundRate": 25, "update_type": "minor",
        "mapping": "Firefox-61.0", "fallbackMapping": "Firefox-60.0", "alias": "firefox-release",
        "product": "Firefox", "channel": "release", "version": "<61.0"}),
    );
    write(
        "POST",
        "/api/emergency_shutoff",
        json!({"product": "Firefox", "channel": "beta", "comment": "bad build"}),
    )
    .expect(201);
    Seeded {
        ticket,
        two_packages,
        with_ticket,
        high_rule,
        low_rule,
    }
}

/// Loads `path`, checks the console is clean, every form control is labelled and (at 390 px)
/// the page does not scroll sideways, and saves a screenshot named `name`.
fn visit(browser: &Session<'_>, server: &TestServer, path: &str, name: &str, width: u32) {
    browser.goto(&server.url(path));
    browser.assert_clean_console(path);
    let unlabelled = browser.execute(
        "return [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.labels.length === 0)
            .map(e => e.name);",
        &[],
    );
    assert_eq!(unlabelled, json!([]), "unlabelled controls on {path}");
    let overflow = browser.execute(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        &[],
    );
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "{path} scrolls sideways at {width} px by {overflow} px"
    );
    let file = format!("{}-{name}-{width}.png", server.backend.name());
    browser.screenshot_page(&screenshots().join(file));
}

fn rows(browser: &Session<'_>, css: &str) -> Vec<String> {
    browser
        .find_all(css)
        .iter()
        .map(|row| browser.text(row))
        .collect()
}

#[test]
fn every_dashboard_page_shows_the_ledger_in_a_browser() {
    let driver = Driver::start();
    let browser = driver.session(1400, 1000);
    TestServer::each_backend(|server| {
        let seeded = seed(server);
        browser.set_window(1400, 1000);

        // A browser at the root lands on the overview.
        browser.goto(&server.url("/"));
        assert!(
            browser.current_url().ends_with("/ui/"),
            "{}",
            browser.current_url()
        );
        assert_eq!(browser.title(), "Overview · shiplog");
        visit(&browser, server, "/ui/", "overview", 1400);
        let frequency = browser.text_of("#tile-frequency");
        assert!(frequency.contains("4 deployments on 3 days"), "{frequency}");
        // 3 deploy days in 30 days: 0.7 a week, under weekly but over 7 in 30 days.
        assert!(frequency.contains("Band: ● monthly"), "{frequency}");
        assert!(browser.text_of("#tile-failure").contains("50.0 %"));
        assert!(browser.text_of("#tile-failure").contains("2 of 4"));
        // The per-day chart has a column per day of the window, as the API's series does.
        let api = server.get("/api/v1/delivery").json();
        let days = api["data"]["series"].as_array().expect("series").len();
        assert_eq!(browser.count("#deployments-chart g.col"), days);
        assert_eq!(
            browser.count("#deployments-chart rect.seg.ok"),
            2,
            "5 and 2 days ago"
        );
        assert_eq!(
            browser.count("#deployments-chart rect.seg.bad"),
            1,
            "4 days ago"
        );
        assert_eq!(browser.count("#durations-chart rect.seg.time"), 3);
        assert_eq!(browser.count("#team-chart g.row"), 2);
        assert_eq!(browser.count("#platform-chart g.row"), 2);
        let teams = rows(&browser, "#team-chart g.row");
        assert!(teams.iter().all(|t| t.contains("50.0 %")), "{teams:?}");
        let platforms = browser.text_of("#platform-chart");
        assert!(platforms.contains("66.7 % (2 of 3)"), "{platforms}");
        assert!(platforms.contains("0.0 % (0 of 1)"), "{platforms}");

        // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
        browser.press("\u{E004}");
        let focused = browser.execute("return document.activeElement.className;", &[]);
        assert_eq!(focused, json!("skip"));
        browser.press("\u{E007}");
        let focused = browser.execute("return document.activeElement.id;", &[]);
        assert_eq!(focused, json!("main"));

        // Releases: every one, newest first, with status as a word; then filtered.
        visit(&browser, server, "/ui/releases", "releases", 1400);
        // Five imported, and the two Balrog releases, which the ledger records without packages.
        let count = browser.text_of("#release-count");
        assert!(count.starts_with("7 releases"), "{count}");
        let list = rows(&browser, "#releases tbody tr");
        assert_eq!(list.len(), 7);
        assert_eq!(
            list.iter().filter(|r| r.contains("No packages")).count(),
            2,
            "{list:?}"
        );
        let running = list.iter().find(|r| r.contains("api 2.1")).expect("R5");
        assert!(running.contains("In progress"), "{running}");
        assert!(
            list.iter().filter(|r| r.contains("Failed")).count() == 1,
            "{list:?}"
        );
        assert!(
            list.iter().any(|r| r.contains("web 1.0 (rollback)")),
            "{list:?}"
        );
        browser.goto(&server.url("/ui/releases?team=core&status="));
        assert_eq!(rows(&browser, "#releases tbody tr").len(), 2);
        browser.goto(&server.url("/ui/releases?status=FAILED"));
        let failed = rows(&browser, "#releases tbody tr");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].contains("web 1.1"), "{failed:?}");
        browser.assert_clean_console("/ui/releases (filtered)");

        // A release: its packages on the timeline, then its references.
        let path = format!("/ui/releases/{}", seeded.two_packages);
        visit(&browser, server, &path, "release", 1400);
        assert_eq!(browser.count("#timeline-chart rect.seg.ok"), 2);
        assert!(browser.text_of("#packages").contains("worker"));
        let path = format!("/ui/releases/{}", seeded.with_ticket);
        browser.goto(&server.url(&path));
        assert!(browser.text_of("main").contains("deployed by the train"));
        assert!(browser.text_of("main").contains("commit_time"));
        let link = browser.find(&format!("a[href='/ui/tickets?id={}']", seeded.ticket));
        browser.click(&link);
        browser.wait_for_text(&format!("#ticket-{}", seeded.ticket), "land the");
        assert!(browser
            .current_url()
            .contains(&format!("/ui/tickets?id={}", seeded.ticket)));
        let row = browser.text_of(&format!("#ticket-{}", seeded.ticket));
        assert!(row.contains("land the <fix> & more"), "{row}");
        browser.assert_clean_console("a release, then its ticket");

        // Live now: the current version of each package on each platform.
        visit(&browser, server, "/ui/live", "live", 1400);
        let live: Vec<String> = rows(&browser, "#live tbody tr")
            .iter()
            .map(|row| row.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            live,
            ["api — 2.0", "web 1.0 —", "worker — 2.0"],
            "columns eu, us"
        );

        // Rollouts: Firefox's rules by priority, the shutoff first.
        visit(&browser, server, "/ui/rollouts", "rollouts", 1400);
        let order: Vec<String> = browser
            .find_all("table.rules tbody tr")
            .iter()
            .filter_map(|row| browser.attribute(row, "id"))
            .collect();
        assert_eq!(
            order,
            [
                format!("rule-{}", seeded.high_rule),
                format!("rule-{}", seeded.low_rule)
            ]
        );
        let high = browser.text_of(&format!("#rule-{}", seeded.high_rule));
        for part in [
            "90",
            "firefox-release",
            "Firefox-61.0",
            "25 %",
            "Firefox-60.0",
            "<61.0",
        ] {
            assert!(high.contains(part), "{part} in {high}");
        }
        let shutoffs = browser.text_of("#shutoff-list");
        assert!(
            shutoffs.contains("Firefox on beta — bad build"),
            "{shutoffs}"
        );

        // Evaluate: filled in and sent with the keyboard and mouse as a person would.
        visit(&browser, server, "/ui/evaluate", "evaluate-form", 1400);
        for (field, value) in [
            ("product", "Firefox"),
            ("version", "59.0"),
            ("channel", "release"),
            ("buildTarget", "WINNT_x86_64-msvc"),
            ("locale", "de"),
            ("buildID", "20170101000000"),
        ] {
            let input = browser.find(&format!("#f-{field}"));
            browser.type_into(&input, value);
        }
        browser.click(&browser.find("#f-force option[value='1']"));
        browser.click(&browser.find("form.evaluate button[type=submit]"));
        browser.wait_for_text("#winning-rule", &format!("#{}", seeded.high_rule));
        browser.assert_clean_console("/ui/evaluate (submitted)");
        assert!(browser
            .text_of("#winning-rule")
            .contains(&format!("#{}", seeded.high_rule)));
        assert!(browser.text_of("#served").contains("Firefox-61.0"));
        assert!(browser.text_of("#reason").contains("force=1"));
        let file = format!("{}-evaluate-1400.png", server.backend.name());
        browser.screenshot(&screenshots().join(file));

        visit(&browser, server, "/ui/tickets", "tickets", 1400);
        let count = browser.text_of("#ticket-count");
        assert_eq!(count, "1 ticket.");

        // Narrow: every page still reads without sideways scrolling.
        browser.set_window(390, 844);
        for (path, name) in [
            ("/ui/".to_owned(), "overview"),
            ("/ui/releases".to_owned(), "releases"),
            (format!("/ui/releases/{}", seeded.two_packages), "release"),
            ("/ui/live".to_owned(), "live"),
            ("/ui/rollouts".to_owned(), "rollouts"),
            ("/ui/evaluate".to_owned(), "evaluate-form"),
            ("/ui/tickets".to_owned(), "tickets"),
        ] {
            visit(&browser, server, &path, name, 390);
        }
    });
}

#[test]
fn under_auth_all_the_dashboard_asks_for_a_token_and_keeps_it_in_an_httponly_cookie() {
    let driver = Driver::start();
    let browser = driver.session(1400, 1000);
    let all = |state: shiplog_api::AppState| {
        state.with_auth(AuthSettings {
            mode: AuthMode::All,
            ..AuthSettings::default()
        })
    };
    TestServer::each_backend_with(all, |server| {
        browser.goto(&server.url("/ui/releases"));
        assert_eq!(browser.title(), "Log in · shiplog");
        assert!(browser
            .text_of("[role=alert]")
            .contains("Log in to read this dashboard"));
        // The page answered 401, which the console reports; nothing else may be there.
        let errors: Vec<(String, String)> = browser
            .console()
            .into_iter()
            .filter(|(level, message)| level == "SEVERE" && !message.contains("401"))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let file = format!("{}-login-1400.png", server.backend.name());
        browser.screenshot(&screenshots().join(file));

        browser.type_into(
            &browser.find("#token"),
            "shiplog_not_a_real_token_000000000000000000",
        );
        browser.click(&browser.find("form.login button"));
        // The click returns before the answer to the form has replaced the page.
        browser.wait_for_text("[role=alert]", "not valid");
        browser.console();

        browser.type_into(&browser.find("#token"), ALICE_TOKEN);
        browser.click(&browser.find("form.login button"));
        browser.wait_for_title("Overview · shiplog");
        browser.assert_clean_console("/ui/ after logging in");
        assert!(browser.text_of("form.who").contains("Signed in as alice"));
        // The token is out of reach of scripts.
        assert_eq!(browser.execute("return document.cookie;", &[]), json!(""));
        browser.goto(&server.url("/ui/releases"));
        assert_eq!(browser.title(), "Releases · shiplog");

        browser.click(&browser.find("form.who button"));
        browser.wait_for_title("Log in · shiplog");
        browser.goto(&server.url("/ui/tickets"));
        assert_eq!(browser.title(), "Log in · shiplog");
        browser.console();
    });
}

#[test]
fn dashboard_answers_bad_input_with_html_pages_and_its_cookie_opens_no_api() {
    TestServer::each_backend(|server| {
        let page = server.get("/ui/releases?colour=red");
        page.expect(400);
        assert!(page
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("text/html")));
        assert!(
            page.text.contains("no parameter &#39;colour&#39;")
                || page.text.contains("no parameter 'colour'"),
            "{}",
            page.text
        );
        server.get("/ui/releases?status=DONE").expect(400);
        server.get("/ui/releases?page=0").expect(400);
        server.get("/ui/tickets?id=x").expect(400);
        server
            .get("/ui/evaluate?product=Firefox&version=not..a..version")
            .expect(400);
        let missing = server.get("/ui/releases/00000000-0000-0000-0000-000000000000");
        missing.expect(404);
        assert!(missing.text.contains("There is no release with this id."));
        server.get("/ui/no-such-page").expect(404);
        let wrong = server.request("DELETE", "/ui/releases", &[], None);
        wrong.expect(405);
        assert_eq!(wrong.header("Allow"), Some("GET"));
        assert!(wrong.text.contains("not allowed"));
        let wrong = server.request("GET", "/ui/logout", &[], None);
        wrong.expect(405);
        assert_eq!(wrong.header("Allow"), Some("POST"));
        let csp = page.header("Content-Security-Policy").expect("a policy");
        assert!(
            csp.contains("form-action 'self'") && !csp.contains("script-src"),
            "{csp}"
        );

        // Logging in sets an HttpOnly, SameSite=Strict cookie scoped to /ui (read without
        // following the redirect, which would drop the header) …
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let login = agent
            .post(server.url("/ui/login"))
            .content_type("application/x-www-form-urlencoded")
            .send(format!("token={ALICE_TOKEN}"))
            .expect("an answer");
        assert_eq!(login.status().as_u16(), 303);
        assert_eq!(
            login
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok()),
            Some("/ui/")
        );
        let cookie = login
            .headers()
            .get("Set-Cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a cookie")
            .to_owned();
        for part in [
            "shiplog_ui=",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/ui",
            "Max-Age=3600",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        // … which no API face reads: a write with only the cookie is anonymous.
        let value = cookie.split(';').next().expect("name=value");
        server
            .request(
                "POST",
                "/api/emergency_shutoff",
                &[("Cookie", value), JSON],
                Some(&json!({"product": "Firefox", "channel": "x"}).to_string()),
            )
            .expect(401);
        // Logging out revokes the access token itself, not only the cookie: a copy of the
        // cookie's token stops working at once.
        let secret = value.split_once('=').map(|(_, v)| v).expect("a token");
        let bearer = format!("Bearer {secret}");
        let shutoff = |channel: &str| {
            server.request(
                "POST",
                "/api/emergency_shutoff",
                &[("Authorization", &bearer), JSON],
                Some(&json!({"product": "Firefox", "channel": channel}).to_string()),
            )
        };
        shutoff("before-logout").expect(201);
        let logout = agent
            .post(server.url("/ui/logout"))
            .header("Cookie", value)
            .send_empty()
            .expect("an answer");
        assert_eq!(logout.status().as_u16(), 303);
        assert!(logout
            .headers()
            .get("Set-Cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("Max-Age=0")));
        shutoff("after-logout").expect(401);
        // A logout with no cookie, or a cookie that is no token, just clears it.
        for cookie in ["", "shiplog_ui=nonsense"] {
            let again = agent
                .post(server.url("/ui/logout"))
                .header("Cookie", cookie)
                .send_empty()
                .expect("an answer");
            assert_eq!(again.status().as_u16(), 303);
        }

        let refused = server.request(
            "POST",
            "/ui/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some("token=nonsense"),
        );
        refused.expect(401);
        assert!(refused.header("Set-Cookie").is_none());
    });
}
