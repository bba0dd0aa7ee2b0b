//! Webhook leases and deliveries in storage, on every backend under test: one claim at a time,
//! a lease that runs out is taken over, a stale holder cannot fan events out twice, and an
//! attempt's outcome moves its delivery along.

use shiplog_domain::event::TypePattern;
use shiplog_domain::NewRelease;
use shiplog_storage::testing::TestDb;
use shiplog_storage::{AttemptOutcome, NewWebhook, StorageError, Store, WebhookFilters};
use time::{Duration, OffsetDateTime};

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn release(store: &Store, user: &str) {
    let new = NewRelease::new(user, vec!["eu".into()], OffsetDateTime::now_utc()).expect("valid");
    store.insert_release(&new).expect("insert");
}

#[test]
fn one_holder_at_a_time_and_a_stale_holder_cannot_fan_out_twice() {
    each_backend(|store| {
        release(store, "before");
        let hook = store
            .insert_webhook(&NewWebhook {
                url: "http://127.0.0.1:9/hook".into(),
                events: vec![TypePattern::parse("release.*").expect("pattern")],
                filters: WebhookFilters::default(),
                description: None,
                secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
                created_by: "admin".into(),
            })
            .expect("webhook");
        for user in ["a", "b", "c"] {
            release(store, user);
        }
        let now = OffsetDateTime::now_utc();
        let mut first = store
            .claim_webhook("one", now, Duration::minutes(1))
            .expect("claim")
            .expect("free");
        assert!(store
            .claim_webhook("two", now, Duration::minutes(1))
            .expect("claim")
            .is_none());
        // After the lease runs out another instance takes over, from the same cursor.
        let later = now + Duration::minutes(2);
        let mut second = store
            .claim_webhook("two", later, Duration::minutes(1))
            .expect("claim")
            .expect("expired");
        assert_eq!(store.fan_out(&mut second, 100).expect("fan out"), 3);
        assert!(matches!(
            store.fan_out(&mut first, 100),
            Err(StorageError::Conflict(_))
        ));
        // Events written before the subscription are not delivered; the rest in order.
        let due = store.due_deliveries(hook.id, later, 100).expect("due");
        assert_eq!(due.len(), 3);
        assert!(due.windows(2).all(|w| w[0].id < w[1].id));
        assert!(due
            .iter()
            .all(|d| d.message_id.starts_with(&format!("msg_{}_", hook.id))));
        let users: Vec<String> = due
            .iter()
            .map(|d| {
                let body: serde_json::Value = serde_json::from_str(&d.payload).expect("JSON");
                body["data"]["user"].as_str().expect("user").to_owned()
            })
            .collect();
        assert_eq!(users, ["a", "b", "c"]);

        // A failure waits for its retry; a success is final.
        let retry_at = later + Duration::seconds(5);
        store
            .record_attempt(
                hook.id,
                due[0].id,
                "two",
                &AttemptOutcome {
                    at: later,
                    status: Some(500),
                    duration_ms: 3,
                    error: Some("HTTP 500".into()),
                    delivered: false,
                    next_attempt_at: Some(retry_at),
                    disable: None,
                },
            )
            .expect("record");
        store
            .record_attempt(
                hook.id,
                due[1].id,
                "two",
                &AttemptOutcome {
                    at: later,
                    status: Some(204),
                    duration_ms: 2,
                    error: None,
                    delivered: true,
                    next_attempt_at: None,
                    disable: None,
                },
            )
            .expect("record");
        let now_due: Vec<i64> = store
            .due_deliveries(hook.id, later, 100)
            .expect("due")
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(now_due, [due[2].id]);
        let then_due = store.due_deliveries(hook.id, retry_at, 100).expect("due");
        assert_eq!(then_due.len(), 2);
        assert_eq!(then_due[0].attempts, 1);
        let attempts = store.list_attempts(hook.id, 10).expect("attempts");
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].state, "delivered");
        assert_eq!(
            attempts[1].next_attempt_at,
            Some(
                retry_at
                    .replace_nanosecond(retry_at.nanosecond() / 1000 * 1000)
                    .expect("micros")
            )
        );
        // A released lease is free at once.
        store.release_webhook(hook.id, "two").expect("release");
        assert!(store
            .claim_webhook(
                "three",
                OffsetDateTime::now_utc() + Duration::seconds(1),
                Duration::minutes(1)
            )
            .expect("claim")
            .is_some());
    });
}

fn stop(store: &Store, id: shiplog_domain::ReleaseId) {
    store.stop_release(id).expect("stop");
}

/// A release's callback row is claimable only while it has something due: parked at creation,
/// unparked by a status change (with a delivery of the release as Orlo shows it), parked again
/// when released with nothing pending, and hidden from the subscriptions' administration.
#[test]
fn callback_rows_are_claimed_only_with_something_to_send() {
    each_backend(|store| {
        let mut new =
            NewRelease::new("carol", vec!["eu".into()], OffsetDateTime::now_utc()).expect("valid");
        new.callback = Some("http://127.0.0.1:9/callback".into());
        let id = store.insert_release(&new).expect("insert");
        let plain =
            NewRelease::new("dan", vec!["eu".into()], OffsetDateTime::now_utc()).expect("valid");
        let plain = store.insert_release(&plain).expect("insert");
        let soon = || OffsetDateTime::now_utc() + Duration::seconds(1);
        assert!(store
            .claim_webhook("one", soon(), Duration::minutes(1))
            .expect("claim")
            .is_none());
        assert!(store.list_webhooks().expect("list").is_empty());

        stop(store, plain);
        assert!(store
            .claim_webhook("one", soon(), Duration::minutes(1))
            .expect("claim")
            .is_none());
        stop(store, id);
        let mut claimed = store
            .claim_webhook("one", soon(), Duration::minutes(1))
            .expect("claim")
            .expect("unparked");
        assert!(claimed.callback);
        assert_eq!(claimed.url, "http://127.0.0.1:9/callback");
        assert_eq!(
            claimed.secret,
            store.callback_secret().expect("secret"),
            "signed with the server-wide secret"
        );
        assert!(store.find_webhook(claimed.id).expect("find").is_none());
        assert!(!store.delete_webhook(claimed.id).expect("delete"));
        // Events are not fanned out to it.
        assert_eq!(store.fan_out(&mut claimed, 100).expect("fan out"), 0);
        let due = store.due_deliveries(claimed.id, soon(), 100).expect("due");
        assert_eq!(due.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&due[0].payload).expect("JSON");
        assert_eq!(body["id"], id.to_string());
        assert!(body["ftime"].is_string());
        store
            .record_attempt(
                claimed.id,
                due[0].id,
                "one",
                &AttemptOutcome {
                    at: OffsetDateTime::now_utc(),
                    status: Some(204),
                    duration_ms: 1,
                    error: None,
                    delivered: true,
                    next_attempt_at: None,
                    disable: None,
                },
            )
            .expect("record");
        store.release_webhook(claimed.id, "one").expect("release");
        // Nothing pending: parked again, even long after.
        assert!(store
            .claim_webhook(
                "two",
                OffsetDateTime::now_utc() + Duration::days(30),
                Duration::minutes(1)
            )
            .expect("claim")
            .is_none());
    });
}

/// A change of a release or its packages works out in memory what its event and its callback
/// carry (the package, the release as the change leaves it) instead of reading them back. They
/// must still be what a read gives afterwards, to the microsecond, through every kind of change.
#[test]
fn change_events_and_callbacks_carry_what_a_read_gives_back() {
    use shiplog_domain::{NewPackage, PackageStatus, ReleaseId};
    use shiplog_storage::{EventFilter, ReleaseFilter};

    each_backend(|store| {
        let mut new =
            NewRelease::new("carol", vec!["eu".into()], OffsetDateTime::now_utc()).expect("valid");
        new.callback = Some("http://127.0.0.1:9/callback".into());
        new.team = Some("web".into());
        let id = store.insert_release(&new).expect("insert");
        let release_now = |id: ReleaseId| {
            let release = store
                .find_release(id, &ReleaseFilter::default())
                .expect("find")
                .expect("release");
            serde_json::to_value(&release).expect("JSON")
        };
        let check = |step: &str, package| {
            let events = store
                .list_events(&EventFilter::default(), 1_000)
                .expect("events");
            let last = events.last().expect("an event");
            let read = store.find_package(package).expect("find").expect("package");
            assert_eq!(
                last.data,
                serde_json::to_value(&read).expect("JSON"),
                "{step}: the event carries the package as read back"
            );
        };

        // A client-given start time with nanoseconds: stored, and carried, to the microsecond.
        let mut started = NewPackage::new("web", "1.0");
        started.status = PackageStatus::InProgress;
        started.stime = Some(
            OffsetDateTime::now_utc()
                .replace_nanosecond(123_456_789)
                .expect("ns"),
        );
        started.diff_url = Some("https://example.com/diff".into());
        let web = store.add_package(id, &started).expect("add");
        check("added in progress", web);
        let mut undo = NewPackage::new("db", "0.9");
        undo.rollback = true;
        let db = store.add_package(id, &undo).expect("add");
        check("a rollback added", db);
        store.start_package(id, db).expect("start");
        check("started", db);
        store.stop_package(id, web, true).expect("stop");
        check("finished", web);
        store
            .set_package_results(id, web, "all green")
            .expect("results");
        check("results", web);
        store.stop_package(id, db, false).expect("stop");
        check("failed", db);

        let check_release = |step: &str| {
            let events = store
                .list_events(&EventFilter::default(), 1_000)
                .expect("events");
            let last = events.last().expect("an event");
            assert_eq!(
                last.data,
                release_now(id),
                "{step}: the event carries the release as read back"
            );
        };
        store.add_note(id, "first").expect("note");
        store.add_note(id, "second").expect("note");
        check_release("a note");
        let mut metadata = shiplog_domain::Metadata::new();
        metadata.insert("ticket".into(), "T-1".into());
        metadata.insert("zone".into(), "a".into());
        store.merge_metadata(id, &metadata).expect("metadata");
        metadata.insert("zone".into(), "b".into());
        store.merge_metadata(id, &metadata).expect("metadata again");
        check_release("metadata replaced");
        store
            .merge_metadata(id, &shiplog_domain::Metadata::new())
            .expect("no metadata");
        check_release("no metadata");
        store.start_release(id).expect("start");
        check_release("started");
        store.stop_release(id).expect("stop");
        check_release("stopped");
        let read = store
            .find_release(id, &ReleaseFilter::default())
            .expect("find")
            .expect("release");
        assert_eq!(read.notes, ["first", "second"]);
        assert_eq!(read.metadata.get("zone").map(String::as_str), Some("b"));

        // The last change (the stop) queued the release as a read gives it now.
        let soon = OffsetDateTime::now_utc() + Duration::seconds(1);
        let claimed = store
            .claim_webhook("one", soon, Duration::minutes(1))
            .expect("claim")
            .expect("unparked");
        let due = store.due_deliveries(claimed.id, soon, 100).expect("due");
        let last = due.last().expect("a callback queued");
        let payload: serde_json::Value = serde_json::from_str(&last.payload).expect("JSON");
        assert_eq!(payload, release_now(id));
        assert_eq!(payload["status"], "FAILED");
    });
}
