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
        status -> Nullable<Text>,
        has_rollback -> Bool,
        name -> Nullable<Text>,
        product -> Nullable<Text>,
        data -> Nullable<Text>,
        read_only -> Bool,
        data_version -> Nullable<BigInt>,
        recorded_by -> Nullable<Text>,
        callback -> Nullable<Text>,
        revision -> BigInt,
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

diesel::table! {
    rules (rule_id) {
        rule_id -> BigInt,
        alias -> Nullable<Text>,
        priority -> BigInt,
        mapping -> Nullable<Text>,
        fallback_mapping -> Nullable<Text>,
        background_rate -> BigInt,
        update_type -> Text,
        product -> Nullable<Text>,
        version -> Nullable<Text>,
        channel -> Nullable<Text>,
        build_target -> Nullable<Text>,
        build_id -> Nullable<Text>,
        locale -> Nullable<Text>,
        os_version -> Nullable<Text>,
        memory -> Nullable<Text>,
        instruction_set -> Nullable<Text>,
        distribution -> Nullable<Text>,
        dist_version -> Nullable<Text>,
        header_architecture -> Nullable<Text>,
        mig64 -> Nullable<Bool>,
        jaws -> Nullable<Bool>,
        whitelist -> Nullable<Text>,
        comment -> Nullable<Text>,
        data_version -> BigInt,
        sticky_by -> Nullable<Text>,
    }
}

diesel::table! {
    changes (change_id) {
        change_id -> BigInt,
        table_name -> Text,
        object_key -> Text,
        changed_by -> Text,
        changed_at -> BigInt,
        data_version -> Nullable<BigInt>,
        row_data -> Nullable<Text>,
        product -> Nullable<Text>,
        channel -> Nullable<Text>,
    }
}

// `tickets` has no `table!` here: its listing and search queries are dynamic, so they are
// written with `crate::sql` and its rows read by name.

diesel::table! {
    ticket_comments (id) {
        id -> BigInt,
        request_id -> BigInt,
        author -> Text,
        date -> Timestamp,
        text -> Text,
    }
}

diesel::table! {
    emergency_shutoffs (product, channel) {
        product -> Text,
        channel -> Text,
        comment -> Nullable<Text>,
        data_version -> BigInt,
    }
}

diesel::table! {
    users (name) {
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        user_name -> Text,
        secret_hash -> Text,
        kind -> Text,
        parent_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    permissions (username, permission) {
        username -> Text,
        permission -> Text,
        options -> Nullable<Text>,
        data_version -> BigInt,
    }
}

diesel::table! {
    pinnable_releases (product, channel, version) {
        product -> Text,
        channel -> Text,
        version -> Text,
        mapping -> Text,
        data_version -> BigInt,
    }
}

diesel::table! {
    ruleset_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    identity_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    user_roles (username, role) {
        username -> Text,
        role -> Text,
        data_version -> BigInt,
    }
}

diesel::table! {
    required_signoffs_product (product, channel, role) {
        product -> Text,
        channel -> Text,
        role -> Text,
        signoffs_required -> BigInt,
        data_version -> BigInt,
    }
}

diesel::table! {
    required_signoffs_permissions (product, role) {
        product -> Text,
        role -> Text,
        signoffs_required -> BigInt,
        data_version -> BigInt,
    }
}

diesel::joinable!(tokens -> users (user_name));
diesel::allow_tables_to_appear_in_same_query!(users, tokens, permissions, user_roles);

diesel::table! {
    scheduled_changes (sc_id) {
        sc_id -> BigInt,
        table_name -> Text,
        change_type -> Text,
        object_key -> Nullable<Text>,
        base_row -> Text,
        base_data_version -> Nullable<BigInt>,
        when_ms -> Nullable<BigInt>,
        telemetry_product -> Nullable<Text>,
        telemetry_channel -> Nullable<Text>,
        telemetry_uptake -> Nullable<BigInt>,
        scheduled_by -> Text,
        created_at -> BigInt,
        complete -> Bool,
        sc_data_version -> BigInt,
        enacted_at -> Nullable<BigInt>,
        enacted_by -> Nullable<Text>,
        failed_at -> Nullable<BigInt>,
        failure -> Nullable<Text>,
    }
}

diesel::table! {
    scheduled_change_signoffs (sc_id, username) {
        sc_id -> BigInt,
        username -> Text,
        role -> Text,
        signed_at -> BigInt,
    }
}

diesel::joinable!(scheduled_change_signoffs -> scheduled_changes (sc_id));
diesel::allow_tables_to_appear_in_same_query!(scheduled_changes, scheduled_change_signoffs);

// The outbox (see `events`): written with these where a prepared statement pays; read with SQL
// text, whose filters vary.
diesel::table! {
    events (id) {
        id -> BigInt,
        #[sql_name = "type"]
        kind -> Text,
        occurred_at -> Timestamp,
        actor -> Nullable<Text>,
        data -> Text,
    }
}

diesel::table! {
    event_tags (name, value, event_id) {
        event_id -> BigInt,
        name -> Text,
        value -> Text,
    }
}

// SQLite's own table of AUTOINCREMENT high-water marks (SQLite only).
diesel::table! {
    sqlite_sequence (name) {
        name -> Text,
        seq -> BigInt,
    }
}
