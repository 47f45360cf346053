-- zoho-vault schema, version 1: the records of the storage interface.
--
-- Every record kind lives in this one table, as in the embedded store's one
-- keyspace, so an atomic batch spanning kinds is one transaction on one
-- table. `tree` is the kind's stable name (the same name that is bound into
-- every sealed value's associated data); `key` and `value` are the exact
-- bytes the embedded store keeps: sealed records, token hashes, the vault
-- header. Nothing here is plaintext secret material.
--
-- bytea compares bytewise (memcmp, then length), which is the key order of
-- the embedded store, so range scans over the primary key see the same
-- order.
CREATE TABLE zv_records (
    tree  text  NOT NULL,
    key   bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tree, key)
);

-- Sealed values are random bytes: compressing them only costs CPU.
ALTER TABLE zv_records ALTER COLUMN value SET STORAGE EXTERNAL;
