-- Tokens are stored by the SHA-256 of their secret (lowercase hex), never in plain text.
CREATE TABLE IF NOT EXISTS dispatcher_tokens (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    token_sha256  char(64)    NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    priority      integer     NOT NULL CHECK (priority BETWEEN 1 AND 1000),
    threshold     integer     NOT NULL CHECK (threshold >= 1),
    max_in_flight integer     NULL CHECK (max_in_flight >= 1),
    client_type   text        NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz NULL
);

-- Every change is announced on channel dispatcher_tokens with the token's hash, so silos drop their cache.
CREATE OR REPLACE FUNCTION dispatcher_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('dispatcher_tokens', OLD.token_sha256);
    ELSE
        PERFORM pg_notify('dispatcher_tokens', NEW.token_sha256);
        IF TG_OP = 'UPDATE' AND OLD.token_sha256 <> NEW.token_sha256 THEN
            PERFORM pg_notify('dispatcher_tokens', OLD.token_sha256);
        END IF;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS dispatcher_tokens_changed ON dispatcher_tokens;
CREATE TRIGGER dispatcher_tokens_changed
    AFTER INSERT OR UPDATE OR DELETE ON dispatcher_tokens
    FOR EACH ROW EXECUTE FUNCTION dispatcher_tokens_notify();
