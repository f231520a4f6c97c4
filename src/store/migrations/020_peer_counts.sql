-- Role fit counted ahead (ADR 0031). A decision used to count its beneficiary's peers and probe
-- each one for the entitlement: cost grew with the peer group (300 people, or 17,866 non-human
-- identities sharing a department and an empty title). The counts are now kept per peer group by
-- the triggers below, in the transaction that changes a grant or an identity, so a decision reads
-- two primary-key rows whatever the size of the group. Live grants per entitlement are counted the
-- same way, for licence seats (a pool's use was a count over every live grant of its app).

-- A human's peers share department and title; a non-human identity's share its kind and owner.
-- The key is read from the identity's own row (no owner look-up), so an owner's move changes no
-- other row's group. Lengths keep 'a/b' + 'c' apart from 'a' + 'b/c'; the ::text keeps every
-- operator immutable, so the planner inlines the function.
CREATE FUNCTION peer_group(kind text, department text, title text, owner text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN kind = 'human'
    THEN 'human:' || length(department)::text || ':' || department || title
    ELSE kind || ':' || owner END;

CREATE FUNCTION grant_is_live(state text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN state IN ('provisioning', 'active', 'revoking', 'revoke_failed');

-- Active identities per peer group. Written only when identities change (sync, apply), never by
-- a submission.
CREATE TABLE peer_members (
  peer_group text PRIMARY KEY,
  members integer NOT NULL
);

-- Active identities of a peer group holding a live grant of an entitlement. Split over 16 shards
-- by the holder's id: two submissions for different peers of one group and one entitlement lock
-- the same row only when their ids share a shard, and decisions about one identity already queue
-- on its row (lockIdentity). A read sums at most 16 rows of one index range.
CREATE TABLE peer_holders (
  peer_group text NOT NULL,
  entitlement text NOT NULL,
  shard smallint NOT NULL,
  holders integer NOT NULL,
  PRIMARY KEY (peer_group, entitlement, shard)
);

-- Live grants per entitlement, whoever holds them (a suspended identity's grant still takes a
-- licence seat), sharded by holder as peer_holders is.
CREATE TABLE entitlement_holders (
  entitlement text NOT NULL,
  shard smallint NOT NULL,
  holders integer NOT NULL,
  PRIMARY KEY (entitlement, shard)
);

INSERT INTO entitlement_holders (entitlement, shard, holders)
SELECT entitlement, hashtext(identity) & 15, count(*) FROM grants WHERE grant_is_live(state) GROUP BY 1, 2;

INSERT INTO peer_members (peer_group, members)
SELECT peer_group(kind, department, title, owner), count(*)
  FROM identities WHERE status = 'active' GROUP BY 1;

INSERT INTO peer_holders (peer_group, entitlement, shard, holders)
SELECT peer_group(i.kind, i.department, i.title, i.owner), g.entitlement, hashtext(g.identity) & 15, count(*)
  FROM grants g JOIN identities i ON i.id = g.identity
 WHERE grant_is_live(g.state) AND i.status = 'active'
 GROUP BY 1, 2, 3;

-- The trigger functions below are planned once per connection, with no parameters, so the first
-- plan is kept whatever size of statement comes next (a COPY of a million grants, then one grant
-- per submission) and whatever the statistics say. Identities and grants are therefore read only
-- in subqueries correlated with a changed row (never pulled up into a join the planner could turn
-- around), and with sequential scans off, each is an index probe: what one submission needs, and
-- linear for a bulk load. Joins between the transition tables stay free to hash.

-- Grants: a statement that makes grants live or not live adds or removes their holders. The
-- holders' identity rows are locked FOR SHARE first: an identity changing group concurrently
-- either waits for this transaction (and then moves the grants it sees), or commits first (and
-- the next statement here, with a new snapshot, counts the grant in the new group).
CREATE FUNCTION peer_holders_from_grants() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM (SELECT 1 FROM identities i WHERE i.id = r.identity FOR SHARE)
       FROM (SELECT DISTINCT r.identity FROM new_rows r WHERE grant_is_live(r.state) ORDER BY 1) r;
    INSERT INTO entitlement_holders AS p (entitlement, shard, holders)
    SELECT r.entitlement, hashtext(r.identity) & 15, count(*) FROM new_rows r WHERE grant_is_live(r.state)
     GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT c.g, c.entitlement, hashtext(c.identity) & 15, count(*)
      FROM (SELECT r.identity, r.entitlement,
                   (SELECT peer_group(i.kind, i.department, i.title, i.owner) FROM identities i
                     WHERE i.id = r.identity AND i.status = 'active') AS g
              FROM new_rows r WHERE grant_is_live(r.state)) c
     WHERE c.g IS NOT NULL
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM (SELECT 1 FROM identities i WHERE i.id = r.identity FOR SHARE)
       FROM (SELECT DISTINCT r.identity FROM old_rows r WHERE grant_is_live(r.state) ORDER BY 1) r;
    INSERT INTO entitlement_holders AS p (entitlement, shard, holders)
    SELECT r.entitlement, hashtext(r.identity) & 15, -count(*) FROM old_rows r WHERE grant_is_live(r.state)
     GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT c.g, c.entitlement, hashtext(c.identity) & 15, -count(*)
      FROM (SELECT r.identity, r.entitlement,
                   (SELECT peer_group(i.kind, i.department, i.title, i.owner) FROM identities i
                     WHERE i.id = r.identity AND i.status = 'active') AS g
              FROM old_rows r WHERE grant_is_live(r.state)) c
     WHERE c.g IS NOT NULL
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  ELSE
    -- Most updates (verification, expiry moved, revocation started) leave liveness alone.
    IF NOT EXISTS (
      SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE grant_is_live(o.state) <> grant_is_live(n.state)
          OR (grant_is_live(n.state) AND (n.identity <> o.identity OR n.entitlement <> o.entitlement))
    ) THEN
      RETURN NULL;
    END IF;
    PERFORM (SELECT 1 FROM identities i WHERE i.id = r.identity FOR SHARE)
       FROM (SELECT o.identity FROM old_rows o UNION SELECT n.identity FROM new_rows n ORDER BY 1) r;
    INSERT INTO entitlement_holders AS p (entitlement, shard, holders)
    SELECT d.entitlement, hashtext(d.identity) & 15, sum(d.n)
      FROM (
        SELECT o.identity, o.entitlement, -1 AS n FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE grant_is_live(o.state)
           AND (NOT grant_is_live(n.state) OR n.identity <> o.identity OR n.entitlement <> o.entitlement)
        UNION ALL
        SELECT n.identity, n.entitlement, 1 AS n FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE grant_is_live(n.state)
           AND (NOT grant_is_live(o.state) OR n.identity <> o.identity OR n.entitlement <> o.entitlement)
      ) d
     GROUP BY 1, 2 HAVING sum(d.n) <> 0 ORDER BY 1, 2
    ON CONFLICT (entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT c.g, c.entitlement, hashtext(c.identity) & 15, sum(c.n)
      FROM (SELECT d.identity, d.entitlement, d.n,
                   (SELECT peer_group(i.kind, i.department, i.title, i.owner) FROM identities i
                     WHERE i.id = d.identity AND i.status = 'active') AS g
              FROM (
                SELECT o.identity, o.entitlement, -1 AS n FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE grant_is_live(o.state)
                   AND (NOT grant_is_live(n.state) OR n.identity <> o.identity OR n.entitlement <> o.entitlement)
                UNION ALL
                SELECT n.identity, n.entitlement, 1 AS n FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE grant_is_live(n.state)
                   AND (NOT grant_is_live(o.state) OR n.identity <> o.identity OR n.entitlement <> o.entitlement)
              ) d) c
     WHERE c.g IS NOT NULL
     GROUP BY 1, 2, 3 HAVING sum(c.n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER peer_holders_insert AFTER INSERT ON grants
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION peer_holders_from_grants();
CREATE TRIGGER peer_holders_update AFTER UPDATE ON grants
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION peer_holders_from_grants();
CREATE TRIGGER peer_holders_delete AFTER DELETE ON grants
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION peer_holders_from_grants();

-- Identities: a statement that changes an identity's group, or whether it is active, moves it
-- between member counts and moves its live grants between holder counts. The statement itself
-- holds the identity's row; grants written concurrently lock it FOR SHARE (above).
CREATE FUNCTION peer_counts_from_identities() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    WITH moves AS (
         SELECT r.id, peer_group(r.kind, r.department, r.title, r.owner) AS g, 1 AS n
           FROM new_rows r WHERE r.status = 'active'),
       members AS (
         INSERT INTO peer_members AS p (peer_group, members)
         SELECT m.g, sum(m.n) FROM moves m GROUP BY m.g HAVING sum(m.n) <> 0 ORDER BY m.g
         ON CONFLICT (peer_group) DO UPDATE SET members = p.members + EXCLUDED.members)
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT m.g, g.entitlement, hashtext(m.id) & 15, sum(m.n)
      FROM moves m
     CROSS JOIN LATERAL (SELECT g.entitlement FROM grants g
                          WHERE g.identity = m.id AND grant_is_live(g.state) OFFSET 0) g
     GROUP BY 1, 2, 3 HAVING sum(m.n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  ELSIF TG_OP = 'DELETE' THEN
    WITH moves AS (
         SELECT r.id, peer_group(r.kind, r.department, r.title, r.owner) AS g, -1 AS n
           FROM old_rows r WHERE r.status = 'active'),
       members AS (
         INSERT INTO peer_members AS p (peer_group, members)
         SELECT m.g, sum(m.n) FROM moves m GROUP BY m.g HAVING sum(m.n) <> 0 ORDER BY m.g
         ON CONFLICT (peer_group) DO UPDATE SET members = p.members + EXCLUDED.members)
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT m.g, g.entitlement, hashtext(m.id) & 15, sum(m.n)
      FROM moves m
     CROSS JOIN LATERAL (SELECT g.entitlement FROM grants g
                          WHERE g.identity = m.id AND grant_is_live(g.state) OFFSET 0) g
     GROUP BY 1, 2, 3 HAVING sum(m.n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  ELSE
    -- Most updates (display name, attributes, manager) leave the group and status alone.
    IF NOT EXISTS (
      SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE (o.status = 'active') <> (n.status = 'active')
          OR (n.status = 'active' AND peer_group(n.kind, n.department, n.title, n.owner)
                                      <> peer_group(o.kind, o.department, o.title, o.owner))
    ) THEN
      RETURN NULL;
    END IF;
    WITH changed AS (
         SELECT o.id, o.status = 'active' AS was_active, n.status = 'active' AS is_active,
                peer_group(o.kind, o.department, o.title, o.owner) AS og,
                peer_group(n.kind, n.department, n.title, n.owner) AS ng
           FROM old_rows o JOIN new_rows n ON n.id = o.id),
       moves AS (
         SELECT id, og AS g, -1 AS n FROM changed WHERE was_active AND (NOT is_active OR og <> ng)
         UNION ALL
         SELECT id, ng AS g, 1 AS n FROM changed WHERE is_active AND (NOT was_active OR og <> ng)),
       members AS (
         INSERT INTO peer_members AS p (peer_group, members)
         SELECT m.g, sum(m.n) FROM moves m GROUP BY m.g HAVING sum(m.n) <> 0 ORDER BY m.g
         ON CONFLICT (peer_group) DO UPDATE SET members = p.members + EXCLUDED.members)
    INSERT INTO peer_holders AS p (peer_group, entitlement, shard, holders)
    SELECT m.g, g.entitlement, hashtext(m.id) & 15, sum(m.n)
      FROM moves m
     CROSS JOIN LATERAL (SELECT g.entitlement FROM grants g
                          WHERE g.identity = m.id AND grant_is_live(g.state) OFFSET 0) g
     GROUP BY 1, 2, 3 HAVING sum(m.n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (peer_group, entitlement, shard) DO UPDATE SET holders = p.holders + EXCLUDED.holders;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER peer_counts_insert AFTER INSERT ON identities
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION peer_counts_from_identities();
CREATE TRIGGER peer_counts_update AFTER UPDATE ON identities
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION peer_counts_from_identities();
CREATE TRIGGER peer_counts_delete AFTER DELETE ON identities
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION peer_counts_from_identities();

-- TRUNCATE fires no row or statement triggers above; emptying either table empties the counts
-- that depend on it.
CREATE FUNCTION peer_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM peer_holders;
  IF TG_TABLE_NAME = 'grants' THEN
    DELETE FROM entitlement_holders;
  END IF;
  IF TG_TABLE_NAME = 'identities' THEN
    DELETE FROM peer_members;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER peer_counts_truncate_grants AFTER TRUNCATE ON grants
  FOR EACH STATEMENT EXECUTE FUNCTION peer_counts_truncated();
CREATE TRIGGER peer_counts_truncate_identities AFTER TRUNCATE ON identities
  FOR EACH STATEMENT EXECUTE FUNCTION peer_counts_truncated();
