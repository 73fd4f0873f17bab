// @generated automatically by Diesel CLI.

diesel::table! {
    admin_sockets (admin_id, instance_id) {
        instance_id -> Int8,
        admin_id -> Int8,
    }
}

diesel::table! {
    admins (id) {
        id -> Int8,
        name -> Text,
        email -> Text,
        created -> Timestamptz,
        max_sessions -> Int4,
        away -> Bool,
        presence -> Text,
        last_assigned -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Int8,
        name -> Text,
        created -> Timestamptz,
    }
}

diesel::table! {
    canned_replies (id) {
        id -> Int8,
        shortcut -> Text,
        content -> Text,
        created_by -> Int8,
        updated -> Timestamptz,
    }
}

diesel::table! {
    event_numbers (event_id) {
        event_id -> Int8,
        id -> Int8,
    }
}

diesel::table! {
    event_retention (singleton) {
        singleton -> Bool,
        pruned_through -> Int8,
    }
}

diesel::table! {
    event_sequencer (singleton) {
        singleton -> Bool,
        settled -> Int8,
        candidate -> Nullable<Int8>,
        candidate_xmax -> Nullable<Int8>,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        kind -> Text,
        data -> Text,
        all_admins -> Bool,
        admin_ids -> Array<Int8>,
        store_id -> Nullable<Int8>,
        created -> Timestamptz,
        carries_message -> Nullable<Int8>,
        carries_to -> Nullable<Text>,
    }
}

diesel::table! {
    files (key) {
        key -> Text,
        name -> Text,
        size -> Int8,
        content_type -> Text,
        uploader_type -> Text,
        uploader_id -> Int8,
        session_id -> Nullable<Int8>,
        private -> Bool,
        created -> Timestamptz,
    }
}

diesel::table! {
    instances (id) {
        id -> Int8,
        heard_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Int8,
        session_id -> Int8,
        sender_type -> Text,
        sender_id -> Nullable<Int8>,
        content -> Text,
        attachment_url -> Text,
        attachment_type -> Text,
        status -> Text,
        client_message_id -> Nullable<Text>,
        created -> Timestamptz,
        private -> Bool,
    }
}

diesel::table! {
    relay_listeners (pid) {
        pid -> Int4,
        revocations_applied -> Int8,
        delivered_through -> Int8,
        registered -> Timestamptz,
        heard_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        store_id -> Int8,
        admin_id -> Nullable<Int8>,
        status -> Text,
        last_message_id -> Nullable<Int8>,
        last_message_at -> Timestamptz,
        message_count -> Int8,
        unread_by_admin -> Int8,
        unread_by_store -> Int8,
        created -> Timestamptz,
        updated -> Timestamptz,
        queued_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    stores (id) {
        id -> Int8,
        name -> Text,
        email -> Text,
        logo_url -> Text,
        public_key -> Text,
        created -> Timestamptz,
        updated -> Timestamptz,
    }
}

diesel::table! {
    tokens (id) {
        id -> Int8,
        token_hash -> Bytea,
        admin_id -> Nullable<Int8>,
        store_id -> Nullable<Int8>,
        api_key_id -> Nullable<Int8>,
        created -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revocation -> Nullable<Int8>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        endpoint_id -> Int8,
        event_id -> Int8,
        attempt -> Int4,
        status_code -> Nullable<Int4>,
        duration_ms -> Int8,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamptz>,
        created -> Timestamptz,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Int8,
        url -> Text,
        events -> Array<Text>,
        description -> Text,
        enabled -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_until -> Nullable<Timestamptz>,
        created -> Timestamptz,
        delivered_through -> Int8,
        failures -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        lease_owner -> Nullable<Int8>,
        lease_until -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(admin_sockets -> admins (admin_id));
diesel::joinable!(admin_sockets -> instances (instance_id));
diesel::joinable!(canned_replies -> admins (created_by));
diesel::joinable!(files -> sessions (session_id));
diesel::joinable!(sessions -> admins (admin_id));
diesel::joinable!(sessions -> stores (store_id));
diesel::joinable!(tokens -> admins (admin_id));
diesel::joinable!(tokens -> api_keys (api_key_id));
diesel::joinable!(tokens -> stores (store_id));
diesel::joinable!(webhook_attempts -> webhook_endpoints (endpoint_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_sockets,
    admins,
    api_keys,
    canned_replies,
    event_numbers,
    event_retention,
    event_sequencer,
    events,
    files,
    instances,
    messages,
    relay_listeners,
    sessions,
    stores,
    tokens,
    webhook_attempts,
    webhook_endpoints,
);
