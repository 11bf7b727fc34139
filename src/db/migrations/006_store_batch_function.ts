/**
 * Group commit in one round trip: `chat_store_batch` stores a batch of chat sends with the
 * same rules as storing them one by one, in batch order (src/messages/store-batch.ts calls
 * it as a single autocommit statement, so the batch is one transaction and one network
 * round trip instead of BEGIN, six statements and COMMIT).
 *
 * - The senders' advisory locks, then the groups' row locks, are taken first, each in one
 *   global order (ascending key, ascending id), so concurrent batches on any replica cannot
 *   deadlock. The lock key of a sender is 60 bits of the user id.
 * - The decisions are made by the NEXT statement, whose snapshot therefore sees every
 *   message committed by an earlier holder of those locks (under READ COMMITTED each
 *   statement of a volatile function takes a new snapshot): the rate-limit check, the
 *   client_id originals and last_seq are exact.
 * - A send to a missing group or by a non-member is refused; a (group, sender, client_id)
 *   already stored, or repeated earlier in the batch, stores nothing and answers the first
 *   copy's outcome; each group's accepted sends take consecutive seqs after last_seq, in
 *   batch order, and the batch's one time (read under the locks) as sent_at.
 * - Rate limit, at most p_limit stored messages of a sender in any p_window_ms: every
 *   message carries its sender's running number (sender_n, gapless while nothing is
 *   deleted). A sender's n-th message is allowed exactly when their (n - p_limit)-th is
 *   not inside the window, since messages in the window are the sender's newest ones. That
 *   is two index probes per sender whatever the limit or the sending rate, where counting
 *   the window's messages read up to p_limit index entries and their heap rows. Messages
 *   removed with their group no longer count, as before.
 *
 * Returns one row per request (idx is its 1-based position): outcome is 'stored',
 * 'duplicate', 'group_not_found', 'not_member' or 'rate_limited' (with retry_ms), and the
 * message columns for 'stored' and 'duplicate'.
 */
export default `
ALTER TABLE messages ADD COLUMN sender_n BIGINT;
UPDATE messages m SET sender_n = r.n
FROM (SELECT id, row_number() OVER (PARTITION BY sender_id ORDER BY sent_at, group_id, seq) AS n FROM messages) AS r
WHERE m.id = r.id;
CREATE UNIQUE INDEX messages_sender_n_key ON messages (sender_id, sender_n) WHERE sender_n IS NOT NULL;
DROP INDEX idx_messages_sender_time;

CREATE FUNCTION chat_store_batch(
    p_group_ids uuid[], p_sender_ids uuid[], p_usernames text[], p_contents text[], p_client_ids text[],
    p_limit integer, p_window_ms integer)
RETURNS TABLE (
    idx integer, outcome text, retry_ms integer,
    id uuid, group_id uuid, seq bigint, sender_id uuid, username text, content text, client_id text, sent_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    v_now timestamptz;
BEGIN
    -- Volatile functions in the select list run after the sort: locks are taken in key order.
    PERFORM pg_advisory_xact_lock(k.key)
    FROM (SELECT DISTINCT ('x' || substr(replace(u::text, '-', ''), 1, 15))::bit(60)::bigint AS key
          FROM unnest(p_sender_ids) AS u) AS k
    ORDER BY k.key;
    PERFORM 1 FROM groups g WHERE g.id = ANY(p_group_ids) ORDER BY g.id FOR UPDATE;
    -- The batch's one time, read under the locks: sent_at is non-decreasing with seq in every
    -- group, and at the API's precision (milliseconds), so a message's own sent_at finds it
    -- as since/until. The rate-limit window ends at the same instant.
    v_now := date_trunc('milliseconds', clock_timestamp());

    RETURN QUERY
    WITH req AS (
        SELECT r.ord::integer AS i, r.g, r.u, r.uname, r.body, r.cid
        FROM unnest(p_group_ids, p_sender_ids, p_usernames, p_contents, p_client_ids)
             WITH ORDINALITY AS r(g, u, uname, body, cid, ord)
    ),
    usage AS (
        SELECT s.u,
               coalesce((SELECT m.sender_n FROM messages m WHERE m.sender_id = s.u AND m.sender_n IS NOT NULL
                         ORDER BY m.sender_n DESC LIMIT 1), 0) AS top
        FROM (SELECT DISTINCT req.u FROM req) AS s
    ),
    checked AS (
        -- Correlated lookups (one index probe per send) rather than joins: the plan is cached
        -- for any batch size, and a join planned for "some rows" would scan group_members.
        SELECT req.*, gr.last_seq, gr.last_seq IS NOT NULL AS group_exists,
               EXISTS (SELECT 1 FROM group_members mem WHERE mem.group_id = req.g AND mem.user_id = req.u) AS is_member,
               orig.id AS orig_id, orig.seq AS orig_seq, orig.username AS orig_username,
               orig.content AS orig_content, orig.sent_at AS orig_sent_at,
               CASE WHEN req.cid IS NULL THEN req.i
                    ELSE first_value(req.i) OVER (PARTITION BY req.g, req.u, req.cid ORDER BY req.i) END AS first_i
        FROM req
        LEFT JOIN LATERAL (SELECT g.last_seq FROM groups g WHERE g.id = req.g) AS gr ON true
        LEFT JOIN LATERAL (
            SELECT m.id, m.seq, m.username, m.content, m.sent_at FROM messages m
            WHERE req.cid IS NOT NULL AND m.group_id = req.g AND m.sender_id = req.u AND m.client_id = req.cid
        ) AS orig ON true
    ),
    candidate AS (
        SELECT c.i, c.g, c.u, c.uname, c.body, c.cid, c.last_seq, usage.top,
               usage.top + row_number() OVER (PARTITION BY c.u ORDER BY c.i) AS n
        FROM checked c JOIN usage ON usage.u = c.u
        WHERE c.group_exists AND c.is_member AND c.orig_id IS NULL AND c.first_i = c.i
    ),
    judged AS (
        -- blocked: the (n - p_limit)-th message is this batch's own, or stored inside the window
        SELECT cd.*,
               CASE WHEN cd.n - p_limit > cd.top THEN p_window_ms
                    WHEN blocker.sent_at > v_now - p_window_ms * interval '1 millisecond'
                    THEN ceil(extract(epoch FROM (blocker.sent_at + p_window_ms * interval '1 millisecond' - v_now)) * 1000)::integer
                    ELSE 0 END AS wait_ms
        FROM candidate cd
        LEFT JOIN LATERAL (
            SELECT m.sent_at FROM messages m
            WHERE cd.n - p_limit > 0 AND m.sender_id = cd.u AND m.sender_n = cd.n - p_limit
        ) AS blocker ON true
    ),
    verdict AS (
        -- a sender's sends are taken in order: one refused, the later ones wait at least as long
        SELECT j.*, max(j.wait_ms) OVER (PARTITION BY j.u ORDER BY j.i) AS retry_ms FROM judged j
    ),
    accepted AS (
        SELECT v.i, v.g, v.u, v.uname, v.body, v.cid, v.n, gen_random_uuid() AS new_id,
               v.last_seq + row_number() OVER (PARTITION BY v.g ORDER BY v.i) AS new_seq
        FROM verdict v
        WHERE v.retry_ms = 0
    ),
    bumped AS (
        UPDATE groups gr SET last_seq = t.top
        FROM (SELECT a.g, max(a.new_seq) AS top FROM accepted a GROUP BY a.g) AS t
        WHERE gr.id = t.g
    ),
    stored AS (
        INSERT INTO messages (id, group_id, seq, sender_id, sender_n, username, content, client_id, sent_at)
        SELECT a.new_id, a.g, a.new_seq, a.u, a.n, a.uname, a.body, a.cid, v_now
        FROM accepted a
        ORDER BY a.g, a.new_seq
    )
    SELECT c.i,
           CASE WHEN NOT c.group_exists THEN 'group_not_found'
                WHEN NOT c.is_member THEN 'not_member'
                WHEN c.orig_id IS NOT NULL THEN 'duplicate'
                WHEN a.i IS NOT NULL AND c.first_i = c.i THEN 'stored'
                WHEN a.i IS NOT NULL THEN 'duplicate'
                ELSE 'rate_limited' END,
           CASE WHEN a.i IS NULL THEN v.retry_ms END,
           coalesce(c.orig_id, a.new_id), c.g, coalesce(c.orig_seq, a.new_seq), c.u,
           coalesce(c.orig_username, a.uname), coalesce(c.orig_content, a.body), c.cid,
           CASE WHEN c.orig_id IS NOT NULL THEN c.orig_sent_at WHEN a.i IS NOT NULL THEN v_now END
    FROM checked c
    LEFT JOIN verdict v ON v.i = c.first_i
    LEFT JOIN accepted a ON a.i = c.first_i
    ORDER BY c.i;
END
$fn$;
`;
