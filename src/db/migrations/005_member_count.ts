/**
 * groups.member_count: the number of group_members rows of the group, kept exact by
 * statement-level triggers on group_members in the very statement that changes them, so
 * every path (the API, a cascade from DELETE FROM groups, SQL by hand) keeps it. The
 * trigger's UPDATE takes the group row's lock, so concurrent changes of one group's
 * membership serialize on it (the API's paths hold that lock already: see
 * lockGroupForViewer). Reading a group no longer counts its members.
 *
 * Both tables are locked first, so nothing can change membership between the backfill
 * and the triggers' creation (replicas of the previous version may be running).
 * TRUNCATE of group_members alone is not counted: nothing does that.
 */
export default `
LOCK TABLE groups, group_members IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE groups ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;

UPDATE groups g SET member_count = c.n
FROM (SELECT group_id, count(*)::int AS n FROM group_members GROUP BY group_id) c
WHERE g.id = c.group_id;

-- A statement touching several groups (SQL by hand, fixtures) first locks their rows in id
-- order, the order every multi-group transaction of the service uses, so it cannot deadlock
-- with one; the service's own membership statements touch one group, already locked.
CREATE FUNCTION group_members_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM groups g WHERE g.id IN (SELECT group_id FROM added_members) ORDER BY g.id FOR NO KEY UPDATE;
  UPDATE groups g SET member_count = g.member_count + d.n
  FROM (SELECT group_id, count(*)::int AS n FROM added_members GROUP BY group_id) d
  WHERE g.id = d.group_id;
  RETURN NULL;
END
$$;

CREATE FUNCTION group_members_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM groups g WHERE g.id IN (SELECT group_id FROM removed_members) ORDER BY g.id FOR NO KEY UPDATE;
  UPDATE groups g SET member_count = g.member_count - d.n
  FROM (SELECT group_id, count(*)::int AS n FROM removed_members GROUP BY group_id) d
  WHERE g.id = d.group_id;
  RETURN NULL;
END
$$;

-- Nothing moves a member to another group today; if something did, the count would follow.
CREATE FUNCTION group_members_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE groups SET member_count = member_count - 1 WHERE id = OLD.group_id;
  UPDATE groups SET member_count = member_count + 1 WHERE id = NEW.group_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER group_members_count_insert AFTER INSERT ON group_members
  REFERENCING NEW TABLE AS added_members
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_count_added();

CREATE TRIGGER group_members_count_delete AFTER DELETE ON group_members
  REFERENCING OLD TABLE AS removed_members
  FOR EACH STATEMENT EXECUTE FUNCTION group_members_count_removed();

CREATE TRIGGER group_members_count_update AFTER UPDATE OF group_id ON group_members
  FOR EACH ROW WHEN (OLD.group_id IS DISTINCT FROM NEW.group_id) EXECUTE FUNCTION group_members_count_moved();
`;
