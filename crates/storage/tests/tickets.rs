//! Bileto tickets in storage: one story per test, run against every backend under test (SQLite
//! always, PostgreSQL when SHIPLOG_TEST_DATABASE_URL is set).

use shiplog_domain::ticket::BOT_AUTHOR;
use shiplog_domain::{
    NewComment, NewTicket, Ticket, TicketChanges, TicketField, TicketFields, TicketId, TicketUpdate,
};
use shiplog_storage::testing::TestDb;
use shiplog_storage::{StorageError, Store, TicketColumn, TicketFilter};
use time::{Duration, OffsetDateTime};

fn each_backend(story: impl Fn(&Store)) {
    for db in TestDb::all() {
        let store = db.store();
        eprintln!("story on {}", store.backend().name());
        story(&store);
    }
}

fn ticket(pairs: &[(TicketField, &str)]) -> NewTicket {
    let mut fields = TicketFields::default();
    for (field, value) in pairs {
        fields.set(*field, (*value).to_owned());
    }
    NewTicket { fields }
}

fn update(id: TicketId, author: &str, pairs: &[(TicketField, &str)]) -> TicketUpdate {
    let mut changes = TicketChanges::default();
    for (field, value) in pairs {
        changes.set(*field, (*value).to_owned());
    }
    TicketUpdate {
        request_id: id,
        changes,
        author: author.to_owned(),
    }
}

fn ids(tickets: &[Ticket]) -> Vec<TicketId> {
    tickets.iter().map(|t| t.request_id).collect()
}

fn contains(column: TicketColumn, needle: &str) -> (TicketColumn, String) {
    (column, needle.to_owned())
}

use TicketField::{Description, Landers, QaSignoff, Series, Siloname, Status};

#[test]
fn a_ticket_round_trips_and_is_found_by_its_search_text() {
    each_backend(|store| {
        let before = OffsetDateTime::now_utc() - Duration::seconds(1);
        let created = store
            .insert_ticket(&ticket(&[
                (Description, "browser desktop tabs prototype"),
                (Landers, "oSoMoN"),
                (Status, "Packages built"),
                (Siloname, "ubuntu/landing-000"),
                (QaSignoff, "Ready for QA"),
                (Series, "dual"),
                (TicketField::Jenkins, "http://ci-train.staging.ubuntu.com"),
            ]))
            .expect("insert");
        assert!(created.comments.is_empty());
        assert!(created.date > before);
        let found = store
            .find_ticket(created.request_id)
            .expect("find")
            .expect("exists");
        assert_eq!(found, created, "what insert returns is what is stored");
        assert_eq!(
            found.date.nanosecond() % 1_000,
            0,
            "dates are kept to the microsecond"
        );

        let second = store
            .insert_ticket(&ticket(&[(Description, "second")]))
            .expect("insert");
        assert!(second.request_id > created.request_id);
        assert_eq!(
            store
                .find_ticket(TicketId::new(second.request_id.get() + 1).expect("id"))
                .expect("find"),
            None
        );

        // The stored search text starts with the request id and spans fields.
        let search = |needle: String| {
            ids(&store
                .list_tickets(&TicketFilter {
                    contains: vec![(TicketColumn::Search, needle)],
                    ..TicketFilter::default()
                })
                .expect("list"))
        };
        assert_eq!(
            search(format!("{}\nbrowser desktop", created.request_id)),
            [created.request_id]
        );
        assert_eq!(search("SOMON\npackages BUILT".into()), [created.request_id]);
        assert!(
            search("ci-train".into()).is_empty(),
            "jenkins is not in search"
        );
    });
}

#[test]
fn updates_change_only_what_they_name_and_say_so_in_one_comment() {
    each_backend(|store| {
        let id = store
            .insert_ticket(&ticket(&[
                (Description, "d"),
                (Status, "Packages built"),
                (QaSignoff, "Ready for QA"),
            ]))
            .expect("insert")
            .request_id;

        let updated = store
            .update_ticket(&update(
                id,
                "robru",
                &[
                    (QaSignoff, "QA Granted"),
                    (Status, "Packages built"),
                    (TicketField::Dest, "ubuntu/stable"),
                ],
            ))
            .expect("update");
        assert_eq!(updated.fields.description, "d", "unnamed fields stay");
        assert_eq!(updated.fields.qa_signoff, "QA Granted");
        assert_eq!(updated.fields.dest, "ubuntu/stable");
        assert_eq!(updated.comments.len(), 1);
        let comment = &updated.comments[0];
        assert_eq!(comment.author, "robru");
        assert_eq!(comment.request_id, id);
        assert_eq!(
            comment.text,
            "qa_signoff changed from 'Ready for QA' to 'QA Granted'\n\
             dest changed from '' to 'ubuntu/stable'"
        );
        assert_eq!(
            store.find_ticket(id).expect("find").expect("exists"),
            updated
        );

        // Nothing changed: no comment.
        let same = store
            .update_ticket(&update(id, "robru", &[(Status, "Packages built")]))
            .expect("update");
        assert_eq!(same.comments.len(), 1);
        let empty = store
            .update_ticket(&update(id, BOT_AUTHOR, &[]))
            .expect("update");
        assert_eq!(empty, same);

        // The search text follows the fields.
        let landed = store
            .update_ticket(&update(id, BOT_AUTHOR, &[(Status, "Landed")]))
            .expect("update");
        assert_eq!(landed.comments.len(), 2);
        assert_eq!(landed.comments[1].author, BOT_AUTHOR);
        assert!(
            landed.comments[0].id < landed.comments[1].id,
            "oldest first"
        );
        let search = |needle: &str| {
            store
                .list_tickets(&TicketFilter {
                    contains: vec![contains(TicketColumn::Search, needle)],
                    ..TicketFilter::default()
                })
                .expect("list")
                .len()
        };
        assert_eq!(search("landed"), 1);
        assert_eq!(search("packages built"), 0);

        let missing = TicketId::new(id.get() + 100).expect("id");
        assert!(matches!(
            store.update_ticket(&update(missing, "x", &[(Status, "y")])),
            Err(StorageError::TicketNotFound(m)) if m == missing
        ));
    });
}

#[test]
fn comments_are_added_to_existing_tickets_only() {
    each_backend(|store| {
        let id = store
            .insert_ticket(&NewTicket::default())
            .expect("insert")
            .request_id;
        let other = store
            .insert_ticket(&NewTicket::default())
            .expect("insert")
            .request_id;
        let first = store
            .add_ticket_comment(
                &NewComment::new(id, "timo-jyrinki", "I approve this!").expect("ok"),
            )
            .expect("comment");
        store
            .add_ticket_comment(&NewComment::new(other, "x", "elsewhere").expect("ok"))
            .expect("comment");
        let second = store
            .add_ticket_comment(&NewComment::new(id, "robru", "thanks Timo!").expect("ok"))
            .expect("comment");
        assert_eq!(first.text, "I approve this!");
        assert!(first.id < second.id);
        let found = store.find_ticket(id).expect("find").expect("exists");
        assert_eq!(found.comments, [first, second]);

        let missing = TicketId::new(other.get() + 1).expect("id");
        assert!(matches!(
            store.add_ticket_comment(&NewComment::new(missing, "x", "y").expect("ok")),
            Err(StorageError::TicketNotFound(m)) if m == missing
        ));
    });
}

#[test]
fn listings_filter_by_substrings_activity_publishability_and_failure() {
    each_backend(|store| {
        let rows: [(&str, &str, &str, &str); 8] = [
            // landers, siloname, status, qa_signoff
            (
                "robru",
                "ubuntu/landing-001",
                "Packages built",
                "QA Granted",
            ),
            (
                "bobbert",
                "ubuntu/landing-002",
                "Packages built",
                "Publish without QA",
            ),
            (
                "Bob",
                "ubuntu/landing-003",
                "Packages built",
                "Ready for QA",
            ),
            ("robru", "ubuntu/landing-010", "Landed", "QA Granted"),
            ("alice", "", "Abandoned", ""),
            ("alice, robru", "ubuntu/landing-011", "Failed to build", ""),
            ("carol", "ubuntu/landing-012", "Can't merge (focal/x)", ""),
            (
                "dave",
                "stable-phone-overlay/landing-001",
                "Build ERROR",
                "50% done_ish",
            ),
        ];
        let mut created = Vec::new();
        for (landers, silo, status, qa) in rows {
            created.push(
                store
                    .insert_ticket(&ticket(&[
                        (Landers, landers),
                        (Siloname, silo),
                        (Status, status),
                        (QaSignoff, qa),
                    ]))
                    .expect("insert"),
            );
        }
        let id = |i: usize| created[i].request_id;
        let list = |filter: TicketFilter| ids(&store.list_tickets(&filter).expect("list"));
        let field = |f: TicketField, needle: &str| contains(TicketColumn::Field(f), needle);

        let everything = list(TicketFilter::default());
        assert_eq!(
            everything,
            (0..8).rev().map(id).collect::<Vec<_>>(),
            "newest first"
        );
        assert_eq!(
            list(TicketFilter {
                limit: Some(3),
                ..TicketFilter::default()
            }),
            [id(7), id(6), id(5)],
            "a limit keeps the newest"
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(Landers, "BOB")],
                ..TicketFilter::default()
            }),
            [id(2), id(1)],
            "case-insensitive substrings"
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(Landers, "robru"), field(Status, "built")],
                ..TicketFilter::default()
            }),
            [id(0)],
            "filters combine with AND"
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(Landers, "robru")],
                active_only: true,
                ..TicketFilter::default()
            }),
            [id(5), id(0)]
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(Siloname, "001")],
                ..TicketFilter::default()
            }),
            [id(7), id(0)]
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(QaSignoff, "50%")],
                ..TicketFilter::default()
            }),
            [id(7)]
        );
        assert!(
            list(TicketFilter {
                contains: vec![field(QaSignoff, "%"), field(QaSignoff, "a%")],
                ..TicketFilter::default()
            })
            .is_empty(),
            "wildcards in the needle are literal"
        );
        assert_eq!(
            list(TicketFilter {
                contains: vec![field(QaSignoff, "e_i")],
                ..TicketFilter::default()
            }),
            [id(7)],
            "an underscore matches only an underscore"
        );
        assert!(list(TicketFilter {
            contains: vec![field(QaSignoff, "re_dy")],
            ..TicketFilter::default()
        })
        .is_empty());
        assert_eq!(
            list(TicketFilter {
                request_id: Some(id(3)),
                ..TicketFilter::default()
            }),
            [id(3)]
        );

        // The SQL rules agree with the domain's.
        let all = store.list_tickets(&TicketFilter::default()).expect("list");
        let expected = |rule: fn(&TicketFields) -> bool| -> Vec<TicketId> {
            all.iter()
                .filter(|t| rule(&t.fields))
                .map(|t| t.request_id)
                .collect()
        };
        let active = list(TicketFilter {
            active_only: true,
            ..TicketFilter::default()
        });
        assert_eq!(active, expected(TicketFields::is_active));
        assert_eq!(active.len(), 6);
        let publishable = list(TicketFilter {
            publishable: true,
            ..TicketFilter::default()
        });
        assert_eq!(publishable, expected(TicketFields::is_publishable));
        assert_eq!(publishable, [id(1), id(0)]);
        let failures = list(TicketFilter {
            failures: true,
            ..TicketFilter::default()
        });
        assert_eq!(failures, expected(TicketFields::is_failure));
        assert_eq!(failures, [id(7), id(6), id(5)]);
    });
}

#[test]
fn a_long_listing_loads_every_ticket_s_comments() {
    each_backend(|store| {
        let batch: Vec<NewTicket> = (0..1_205)
            .map(|i| ticket(&[(Description, &format!("ticket {i}"))]))
            .collect();
        let created = store.import_tickets(&batch).expect("import");
        assert_eq!(created.len(), batch.len());
        assert!(
            created.windows(2).all(|w| w[0] < w[1]),
            "ids follow the batch"
        );
        let commented = [created[0], created[600], created[1_204]];
        for id in commented {
            for n in 0..2 {
                store
                    .add_ticket_comment(
                        &NewComment::new(id, "a", &format!("{id}/{n}")).expect("ok"),
                    )
                    .expect("comment");
            }
        }
        let all = store.list_tickets(&TicketFilter::default()).expect("list");
        assert_eq!(all.len(), 1_205);
        for ticket in &all {
            let texts: Vec<&str> = ticket.comments.iter().map(|c| c.text.as_str()).collect();
            if commented.contains(&ticket.request_id) {
                let id = ticket.request_id;
                assert_eq!(texts, [format!("{id}/0"), format!("{id}/1")]);
            } else {
                assert!(texts.is_empty(), "{}", ticket.request_id);
            }
        }
        let found = store
            .list_tickets(&TicketFilter {
                contains: vec![contains(TicketColumn::Search, "ticket 1204")],
                ..TicketFilter::default()
            })
            .expect("list");
        assert_eq!(
            ids(&found),
            [created[1_204]],
            "imported tickets are searchable"
        );
    });
}

#[test]
fn concurrent_updates_of_one_ticket_each_describe_their_own_change() {
    each_backend(|store| {
        let id = store
            .insert_ticket(&ticket(&[(Status, "s0")]))
            .expect("insert")
            .request_id;
        std::thread::scope(|scope| {
            for n in 1..=8 {
                let store = store.clone();
                scope.spawn(move || {
                    store
                        .update_ticket(&update(
                            id,
                            &format!("bot{n}"),
                            &[(Status, &format!("s{n}"))],
                        ))
                        .expect("update");
                });
            }
        });
        let ticket = store.find_ticket(id).expect("find").expect("exists");
        assert_eq!(ticket.comments.len(), 8);
        // Each comment starts where the previous one ended: no update saw a stale value.
        let mut current = "s0".to_owned();
        for comment in &ticket.comments {
            let (from, to) = comment
                .text
                .strip_prefix("status changed from '")
                .and_then(|rest| rest.strip_suffix('\''))
                .and_then(|rest| rest.split_once("' to '"))
                .unwrap_or_else(|| panic!("unexpected comment {:?}", comment.text));
            assert_eq!(from, current);
            current = to.to_owned();
        }
        assert_eq!(ticket.fields.status, current);
    });
}
