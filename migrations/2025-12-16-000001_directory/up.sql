-- Stores, admins, API keys and the tokens that authenticate them.

CREATE TABLE stores (
    -- The marketplace's own id of the store.
    id         BIGINT PRIMARY KEY CHECK (id > 0),
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    logo_url   TEXT NOT NULL DEFAULT '',
    -- Stable public key shown to integrations (12 letters and digits).
    public_key TEXT NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9]{12}$'),
    created    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE admins (
    id      BIGSERIAL PRIMARY KEY,
    name    TEXT NOT NULL,
    email   TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX admins_email_key ON admins (lower(email));

CREATE TABLE api_keys (
    id      BIGSERIAL PRIMARY KEY,
    name    TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A token belongs to exactly one admin, store or API key. Only its SHA-256 is stored.
CREATE TABLE tokens (
    id         BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    admin_id   BIGINT REFERENCES admins (id) ON DELETE CASCADE,
    store_id   BIGINT REFERENCES stores (id) ON DELETE CASCADE,
    api_key_id BIGINT REFERENCES api_keys (id) ON DELETE CASCADE,
    created    TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    CHECK (num_nonnulls(admin_id, store_id, api_key_id) = 1)
);
