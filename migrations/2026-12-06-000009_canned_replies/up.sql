-- The team's canned replies: written once, expanded in the console from `/` and a shortcut.
CREATE TABLE canned_replies (
    id bigserial PRIMARY KEY,
    shortcut text NOT NULL UNIQUE,
    content text NOT NULL,
    created_by bigint NOT NULL REFERENCES admins (id),
    updated timestamptz NOT NULL DEFAULT now()
);
