//! The views of the database, declared by hand (the Diesel CLI prints tables only). A test
//! checks them against the migrated database, as it checks `schema.rs`.

// The events with their numbers (`event_numbers` joined to `events`): what every reader of
// the feed reads.
diesel::table! {
    numbered_events (event_id) {
        event_id -> Int8,
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
