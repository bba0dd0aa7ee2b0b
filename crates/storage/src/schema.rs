//! The diesel schema, identical on both backends (see migrations/README.md).

diesel::table! {
    releases (id) {
        id -> Text,
        user_name -> Text,
        team -> Nullable<Text>,
        refs -> Text,
        stime -> Timestamp,
        ftime -> Nullable<Timestamp>,
        duration_secs -> Nullable<BigInt>,
    }
}

diesel::table! {
    packages (id) {
        id -> Text,
        release_id -> Text,
        created_at -> Timestamp,
        ordinal -> Integer,
        name -> Text,
        version -> Text,
        status -> Text,
        rollback -> Bool,
        diff_url -> Nullable<Text>,
        stime -> Nullable<Timestamp>,
        ftime -> Nullable<Timestamp>,
        duration_secs -> Nullable<BigInt>,
        results -> Nullable<Text>,
    }
}

diesel::table! {
    release_platforms (release_id, platform) {
        release_id -> Text,
        platform -> Text,
        ordinal -> Integer,
    }
}

diesel::table! {
    release_notes (id) {
        id -> Text,
        release_id -> Text,
        created_at -> Timestamp,
        ordinal -> Integer,
        body -> Text,
    }
}

diesel::table! {
    release_metadata (release_id, key) {
        release_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::joinable!(packages -> releases (release_id));
diesel::joinable!(release_platforms -> releases (release_id));
diesel::joinable!(release_notes -> releases (release_id));
diesel::joinable!(release_metadata -> releases (release_id));

diesel::allow_tables_to_appear_in_same_query!(
    releases,
    packages,
    release_platforms,
    release_notes,
    release_metadata,
);

// `tickets` has 18 columns, past diesel's default limit of 16 (raising it slows every build of
// diesel), so its queries are written with `crate::sql` and its rows read by name.

diesel::table! {
    ticket_comments (id) {
        id -> BigInt,
        request_id -> BigInt,
        author -> Text,
        date -> Timestamp,
        text -> Text,
    }
}
