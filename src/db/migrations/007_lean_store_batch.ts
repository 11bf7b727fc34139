/**
 * PostgreSQL CPU per stored message, measured on the bench's data (1,000 groups of 10, 100 of
 * them sending, 200,000 older messages, batches of 100; `perf` on the backend running
 * bench/tools/store-batch-loop.ts):
 *
 * - The foreign key messages.group_id → groups ran one `SELECT … FOR KEY SHARE` per inserted
 *   row (14 % of the function's CPU), although chat_store_batch, the only writer of messages,
 *   has just locked that group row FOR UPDATE and checked it exists. It is replaced by what
 *   it was still needed for: deleting a group deletes its messages, now by a row trigger in
 *   the same statement (an index range delete on (group_id, seq), as the cascade did). The
 *   other order of a race is covered by the lock: a batch waiting on a group row that is
 *   deleted finds no group (group_not_found) and stores nothing.
 * - chat_store_batch probed indexes it did not need: the client_id original of a send
 *   without a client_id, and the rate-limit blocker of a send whose (n − limit)-th message
 *   cannot exist. Their lateral lookups are now fenced (OFFSET 0), so the guard becomes a
 *   one-time filter that skips the probe, where it used to be a join filter applied after
 *   it. The senders' last sender_n is materialized: the planner had inlined it into two
 *   places, reading it twice per send.
 * - The function was re-planned on every call (about 1 ms of CPU), and its generic plan
 *   scanned groups; see the ALTER FUNCTION at the end.
 *
 * The body is migration 006's with those three edits (a released migration is never edited,
 * and CREATE OR REPLACE needs the whole body): the rules, the locks and the result are those
 * of migration 006, and its header states them.
 */
export default `
ALTER TABLE messages DROP CONSTRAINT messages_group_id_fkey;

CREATE FUNCTION groups_delete_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM messages WHERE group_id = OLD.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER groups_delete_messages AFTER DELETE ON groups
FOR EACH ROW EXECUTE FUNCTION groups_delete_messages();

CREATE OR REPLACE FUNCTION chat_store_batch(
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
    v_now := date_trunc('milliseconds', clock_timestamp());

    RETURN QUERY
    WITH req AS (
        SELECT r.ord::integer AS i, r.g, r.u, r.uname, r.body, r.cid
        FROM unnest(p_group_ids, p_sender_ids, p_usernames, p_contents, p_client_ids)
             WITH ORDINALITY AS r(g, u, uname, body, cid, ord)
    ),
    usage AS MATERIALIZED (
        SELECT s.u,
               coalesce((SELECT m.sender_n FROM messages m WHERE m.sender_id = s.u AND m.sender_n IS NOT NULL
                         ORDER BY m.sender_n DESC LIMIT 1), 0) AS top
        FROM (SELECT DISTINCT req.u FROM req) AS s
    ),
    checked AS (
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
            OFFSET 0
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
            OFFSET 0
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

-- Plans: a batch's statements are planned once per connection (a custom plan per call cost
-- about 1 ms of CPU, more than storing a small batch), and never with a sequential scan:
-- every lookup here is an index probe, and a scan of groups filtered by the batch's array
-- compared every row with every id.
ALTER FUNCTION chat_store_batch(uuid[], uuid[], text[], text[], text[], integer, integer)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION chat_store_batch(uuid[], uuid[], text[], text[], text[], integer, integer)
    SET enable_seqscan = off;
`;
