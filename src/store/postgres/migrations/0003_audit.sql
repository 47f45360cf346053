-- zoho-vault schema, version 3: the audit trail, one hash chain shared by
-- every replica.
--
-- `zv_audit_events` holds each chained event, keyed by its sequence number,
-- in the same binary encoding as the embedded audit log (`record`); the
-- other columns repeat the fields queries filter on, for the indexes
-- (`at_ns`: the event time in nanoseconds since 1970, exact). Audit
-- events carry no secret (a token appears only as its fingerprint).
CREATE TABLE zv_audit_events (
    seq         bigint      PRIMARY KEY,
    at_ns       bigint,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    connection  text,
    fingerprint text,
    record      bytea       NOT NULL
);
CREATE INDEX zv_audit_events_connection ON zv_audit_events (connection, seq);
CREATE INDEX zv_audit_events_actor ON zv_audit_events (actor, seq);
CREATE INDEX zv_audit_events_action ON zv_audit_events (action, seq);
CREATE INDEX zv_audit_events_fingerprint ON zv_audit_events (fingerprint, seq);

-- The chain head: one row, locked (SELECT ... FOR UPDATE) by every group
-- commit of every replica, so the replicas append one after another and
-- never fork the chain.
CREATE TABLE zv_audit_head (
    id   smallint PRIMARY KEY CHECK (id = 1),
    seq  bigint   NOT NULL,
    hash text     NOT NULL
);

-- The signed checkpoint of the last prune: events at or before it are
-- ignored (and deleted).
CREATE TABLE zv_audit_checkpoint (
    id   smallint PRIMARY KEY CHECK (id = 1),
    seq  bigint   NOT NULL,
    hash text     NOT NULL,
    mac  text     NOT NULL
);

-- Events recorded while sealed (no chain key yet), chained by the next
-- replica that unseals.
CREATE TABLE zv_audit_pending (
    counter bigserial PRIMARY KEY,
    event   bytea     NOT NULL
);
