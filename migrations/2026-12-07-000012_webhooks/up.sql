-- Integrations' webhook endpoints, fed from the event feed (Standard Webhooks).
CREATE TABLE webhook_endpoints (
    id bigserial PRIMARY KEY,
    url text NOT NULL,
    -- Event types, or {'*'} for all.
    events text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    enabled boolean NOT NULL DEFAULT true,
    -- whsec_<base64>: signs every delivery; the previous one signs beside it until
    -- previous_until (a rotation).
    secret text NOT NULL,
    previous_secret text,
    previous_until timestamptz,
    created timestamptz NOT NULL DEFAULT now(),
    -- Every event up to this id was delivered, or is not for this endpoint: deliveries go
    -- in event order, one at a time, so a session's events arrive in order.
    delivered_through bigint NOT NULL,
    -- Failed attempts at the next event, and when the next attempt is due.
    failures integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- The instance delivering now, until when (a lease: another takes over after it).
    lease_owner bigint,
    lease_until timestamptz
);

-- The log of attempts, newest first per endpoint.
CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id bigint NOT NULL,
    attempt integer NOT NULL,
    status_code integer,
    duration_ms bigint NOT NULL,
    error text,
    next_attempt_at timestamptz,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id DESC);
