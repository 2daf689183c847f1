-- The silo cluster (see docs/architecture.md, "Silo cluster").
-- Membership: every silo process registers here and refreshes heartbeat_at while it runs. A silo is live while
-- its row is fresh, its status is 'active' and it holds its member advisory lock (which drops with its session).
CREATE TABLE IF NOT EXISTS dispatcher_silos (
    silo_id      text        PRIMARY KEY,
    address      text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'leaving', 'dead')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Directory: which silo hosts each model's grains (an empty silo_id: handed over, no owner yet). Written only by the
-- silo holding the model's advisory lock; frontends read it (through any silo) and cache it. epoch grows with every
-- change of owner.
CREATE TABLE IF NOT EXISTS dispatcher_directory (
    model      text        PRIMARY KEY,
    silo_id    text        NOT NULL,
    address    text        NOT NULL,
    epoch      bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
