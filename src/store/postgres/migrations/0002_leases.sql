-- zoho-vault schema, version 2: cluster coordination.
--
-- One row per connection name: who may refresh it now (`owner`, until
-- `lease_until`, by the database's clock) and the fencing `generation`,
-- bumped by every grant and by every exclusive writer, so a holder whose
-- lease was superseded can tell before it writes. Rows hold no secret.
CREATE TABLE zv_leases (
    name        text        PRIMARY KEY,
    generation  bigint      NOT NULL DEFAULT 0,
    owner       text,
    lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
