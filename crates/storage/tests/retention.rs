//! Outbox retention on every backend under test: old events go, in batches, except those a
//! webhook subscription (enabled or not) has not yet turned into deliveries; finished
//! deliveries go with their attempts, pending ones stay; ids are never handed out again.

use diesel::{Connection, PgConnection, RunQueryDsl};
use shiplog_domain::event::TypePattern;
use shiplog_domain::NewRelease;
use shiplog_storage::testing::TestDb;
use shiplog_storage::testing::TestDb as Db;
use shiplog_storage::{
    AttemptOutcome, Backend, EventFilter, NewWebhook, Pruned, Store, WebhookFilters, WebhookPatch,
    PRUNE_LOCK,
};
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

fn webhook(store: &Store) -> i64 {
    store
        .insert_webhook(&NewWebhook {
            url: "http://127.0.0.1:9/hook".into(),
            events: vec![TypePattern::parse("release.*").expect("pattern")],
            filters: WebhookFilters::default(),
            description: None,
            secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
            created_by: "admin".into(),
        })
        .expect("webhook")
        .id
}

fn event_ids(store: &Store, filter: EventFilter) -> Vec<i64> {
    store
        .list_events(&filter, 1000)
        .expect("feed")
        .iter()
        .map(|e| e.id)
        .collect()
}

fn outcome(delivered: bool) -> AttemptOutcome {
    AttemptOutcome {
        at: OffsetDateTime::now_utc(),
        status: Some(if delivered { 200 } else { 500 }),
        duration_ms: 3,
        error: (!delivered).then(|| "HTTP 500".to_owned()),
        delivered,
        next_attempt_at: None,
        disable: None,
    }
}

#[test]
fn old_events_and_finished_deliveries_go_and_undelivered_ones_stay() {
    each_backend(|store| {
        for user in ["a", "b", "c", "d", "e"] {
            release(store, user);
        }
        let before = event_ids(store, EventFilter::default());
        assert_eq!(before.len(), 5);
        let hook = webhook(store);
        for user in ["f", "g", "h"] {
            release(store, user);
        }
        let after_hook = event_ids(store, EventFilter::default())[5..].to_vec();

        // A cutoff in the past keeps everything.
        let past = OffsetDateTime::now_utc() - Duration::hours(1);
        assert_eq!(
            store.prune_outbox(past, 2).expect("prune"),
            Pruned::default()
        );
        assert_eq!(event_ids(store, EventFilter::default()).len(), 8);

        // Everything is old now, but the subscription has not fanned out the last three: only
        // the five before it go (in batches of two), with their tags.
        let future = OffsetDateTime::now_utc() + Duration::minutes(1);
        let pruned = store.prune_outbox(future, 2).expect("prune");
        assert_eq!(pruned.events, 5);
        assert!(!pruned.busy);
        assert_eq!(event_ids(store, EventFilter::default()), after_hook);
        let eu = EventFilter {
            platform: Some("eu".into()),
            ..EventFilter::default()
        };
        assert_eq!(event_ids(store, eu), after_hook);

        // Fan out: one delivered, one failed for good, one still pending.
        let now = OffsetDateTime::now_utc();
        let mut claimed = store
            .claim_webhook("one", now, Duration::minutes(1))
            .expect("claim")
            .expect("free");
        assert_eq!(store.fan_out(&mut claimed, 100).expect("fan out"), 3);
        let soon = OffsetDateTime::now_utc() + Duration::seconds(1);
        let due = store.due_deliveries(hook, soon, 100).expect("due");
        assert_eq!(due.len(), 3);
        store
            .record_attempt(hook, due[0].id, "one", &outcome(true))
            .expect("delivered");
        store
            .record_attempt(hook, due[1].id, "one", &outcome(false))
            .expect("failed");
        store.release_webhook(hook, "one").expect("release");
        assert_eq!(store.list_attempts(hook, 100).expect("attempts").len(), 2);

        let future = OffsetDateTime::now_utc() + Duration::minutes(1);
        let pruned = store.prune_outbox(future, 2).expect("prune");
        assert_eq!((pruned.events, pruned.deliveries), (3, 2));
        assert!(event_ids(store, EventFilter::default()).is_empty());
        assert!(store.list_attempts(hook, 100).expect("attempts").is_empty());
        let pending = store.due_deliveries(hook, future, 100).expect("due");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, due[2].id);

        // Ids go on from where they were, even with the outbox empty.
        release(store, "i");
        let next = event_ids(store, EventFilter::default());
        assert_eq!(next.len(), 1);
        assert!(next[0] > *after_hook.last().expect("events"));
    });
}

#[test]
fn a_disabled_subscription_still_holds_its_events_back() {
    each_backend(|store| {
        release(store, "a");
        let hook = webhook(store);
        release(store, "b");
        release(store, "c");
        store
            .update_webhook(
                hook,
                &WebhookPatch {
                    enabled: Some(false),
                    ..WebhookPatch::default()
                },
            )
            .expect("disable")
            .expect("exists");
        let future = OffsetDateTime::now_utc() + Duration::minutes(1);
        assert_eq!(store.prune_outbox(future, 100).expect("prune").events, 1);
        assert_eq!(event_ids(store, EventFilter::default()).len(), 2);
        // Once it is gone, nothing holds them.
        assert!(store.delete_webhook(hook).expect("delete"));
        assert_eq!(store.prune_outbox(future, 100).expect("prune").events, 2);
        assert!(event_ids(store, EventFilter::default()).is_empty());
    });
}

/// Two instances never prune at once: while another session holds the prune lock, a prune
/// deletes nothing and says so; once it is let go, the prune goes through.
#[test]
fn on_postgresql_an_instance_that_finds_the_prune_lock_taken_stops() {
    for db in Db::all() {
        if db.backend() != Backend::Postgres {
            continue;
        }
        let store = db.store();
        release(&store, "a");
        let mut other = PgConnection::establish(db.url()).expect("a second session");
        diesel::sql_query(format!("SELECT pg_advisory_lock({PRUNE_LOCK})"))
            .execute(&mut other)
            .expect("lock");
        let future = OffsetDateTime::now_utc() + Duration::minutes(1);
        let pruned = store.prune_outbox(future, 100).expect("prune");
        assert!(pruned.busy);
        assert_eq!(pruned.events, 0);
        assert_eq!(event_ids(&store, EventFilter::default()).len(), 1);
        diesel::sql_query(format!("SELECT pg_advisory_unlock({PRUNE_LOCK})"))
            .execute(&mut other)
            .expect("unlock");
        let pruned = store.prune_outbox(future, 100).expect("prune");
        assert_eq!((pruned.events, pruned.busy), (1, false));
    }
}
