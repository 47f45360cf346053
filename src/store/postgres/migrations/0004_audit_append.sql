-- zoho-vault schema, version 4: one statement per audit group commit.
--
-- The chain head row exists from the start (the genesis head: seq 0, the
-- all-zero hash), so a commit never has to create it.
INSERT INTO zv_audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT (id) DO NOTHING;

-- A group commit's writes in one round trip, as a compare-and-set on the
-- head: when the head is still (expected_seq, expected_hash), move it to
-- (new_seq, new_hash) and insert the batch's events, in the caller's
-- transaction (which has locked the head row first); otherwise write
-- nothing and answer the head as it now is. The events arrive already
-- chained (their hashes need the chain key, which never leaves the
-- replicas).
CREATE FUNCTION zv_audit_append(
    seqs bigint[], ats bigint[], actions text[], actors text[],
    connections text[], fingerprints text[], records bytea[],
    expected_seq bigint, expected_hash text, new_seq bigint, new_hash text)
RETURNS TABLE (head_seq bigint, head_hash text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE zv_audit_head SET seq = new_seq, hash = new_hash
     WHERE id = 1 AND seq = expected_seq AND hash = expected_hash;
    IF FOUND THEN
        INSERT INTO zv_audit_events
            (seq, at_ns, action, actor, connection, fingerprint, record)
        SELECT * FROM UNNEST(seqs, ats, actions, actors, connections,
                             fingerprints, records);
        RETURN QUERY SELECT new_seq, new_hash;
    ELSE
        -- A statement of its own sees the head another replica just
        -- committed (the update above waited for that commit).
        RETURN QUERY SELECT h.seq, h.hash FROM zv_audit_head h WHERE h.id = 1;
    END IF;
END
$$;
