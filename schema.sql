-- Freight data model: the single source of truth, applied by `freight-controller migrate`.
-- Idempotent: every statement can run again; schema_version records what is applied.
-- Runs unchanged on PostgreSQL (>= 13) and on PGlite (with btree_gist loaded).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE IF NOT EXISTS schema_version (
  version    int PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tenants (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- API tokens, stored as SHA-256 hex of the secret; the secret is shown once.
CREATE TABLE IF NOT EXISTS tokens (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hash       text NOT NULL UNIQUE,
  kind       text NOT NULL CHECK (kind IN ('admin', 'tenant', 'node')),
  tenant_id  uuid REFERENCES tenants(id) ON DELETE CASCADE,
  node_name  text,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  CHECK ((kind = 'tenant') = (tenant_id IS NOT NULL)),
  CHECK ((kind = 'node') = (node_name IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS nodes (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name             text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  underlay_ip      inet NOT NULL CHECK (family(underlay_ip) = 4 AND masklen(underlay_ip) = 32),
  underlay_mtu     int NOT NULL DEFAULT 1500 CHECK (underlay_mtu BETWEEN 576 AND 65535),
  capabilities     jsonb NOT NULL DEFAULT '{}',
  ready            boolean NOT NULL DEFAULT false,
  last_seen        timestamptz,
  applied_revision bigint NOT NULL DEFAULT 0,
  desired_revision bigint NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS networks (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  name       text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  type       text NOT NULL CHECK (type IN ('vxlan', 'geneve', 'ipsec')),
  vni        int NOT NULL UNIQUE CHECK (vni BETWEEN 1 AND 16777215),
  cidr       cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 8 AND 30),
  gateway    inet CHECK (gateway IS NULL OR (family(gateway) = 4 AND masklen(gateway) = 32)),
  mtu        int CHECK (mtu IS NULL OR mtu BETWEEN 576 AND 9000),
  domain     text NOT NULL DEFAULT 'freight.internal',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  -- host(...)::inet on both sides: inet equality compares the mask too ('10.0.0.255/24' <> '10.0.0.255/32')
  CHECK (gateway IS NULL OR (gateway << cidr AND host(gateway) <> host(network(cidr)) AND host(gateway) <> host(broadcast(cidr)))),
  -- one tenant's networks never overlap; different tenants may reuse a range
  CONSTRAINT networks_no_overlap EXCLUDE USING gist (tenant_id WITH =, cidr inet_ops WITH &&)
);

-- Containers, and the infra instance of each network (kind 'infra', network_id set).
CREATE TABLE IF NOT EXISTS containers (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id      uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  name           text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  kind           text NOT NULL DEFAULT 'container' CHECK (kind IN ('container', 'infra')),
  network_id     uuid REFERENCES networks(id) ON DELETE CASCADE,
  image          text NOT NULL,
  command        text[] NOT NULL DEFAULT '{}',
  boot           boolean NOT NULL DEFAULT false,
  restart        text NOT NULL DEFAULT 'never' CHECK (restart IN ('never', 'on-failure', 'always')),
  node_id        uuid REFERENCES nodes(id) ON DELETE SET NULL,
  desired_state  text NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),
  observed_state text NOT NULL DEFAULT 'pending' CHECK (observed_state IN ('pending', 'running', 'stopped', 'exited', 'failed')),
  exit_code      int,
  reason         text,
  restarts       int NOT NULL DEFAULT 0,
  generation     int NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'infra') = (network_id IS NOT NULL))
);
-- Per-container limits the node's kernel enforces (cgroups); infra containers get the defaults too.
ALTER TABLE containers ADD COLUMN IF NOT EXISTS memory_bytes bigint NOT NULL DEFAULT 536870912
  CHECK (memory_bytes BETWEEN 16777216 AND 1125899906842624);
ALTER TABLE containers ADD COLUMN IF NOT EXISTS cpu_millis int CHECK (cpu_millis IS NULL OR cpu_millis BETWEEN 10 AND 1024000);
ALTER TABLE containers ADD COLUMN IF NOT EXISTS pids_max int NOT NULL DEFAULT 1024 CHECK (pids_max BETWEEN 16 AND 4194304);
CREATE UNIQUE INDEX IF NOT EXISTS containers_name ON containers (tenant_id, name) WHERE kind = 'container';
CREATE UNIQUE INDEX IF NOT EXISTS containers_one_infra ON containers (network_id) WHERE kind = 'infra';
CREATE INDEX IF NOT EXISTS containers_node ON containers (node_id);

-- The per-tenant IP/MAC -> node mapping table: one row per container interface.
CREATE TABLE IF NOT EXISTS endpoints (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  network_id   uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  container_id uuid NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  ifindex      int NOT NULL DEFAULT 0 CHECK (ifindex BETWEEN 0 AND 7),
  mac          macaddr NOT NULL,
  ip           inet NOT NULL CHECK (family(ip) = 4 AND masklen(ip) = 32),
  node_id      uuid REFERENCES nodes(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (network_id, ip),
  UNIQUE (network_id, mac),
  UNIQUE (container_id, network_id),
  UNIQUE (container_id, ifindex)
);
CREATE INDEX IF NOT EXISTS endpoints_node ON endpoints (node_id);
-- plugged into an existing container (container attach): its node runs the DHCP exchange for this interface
-- (the container's own client was started for the interfaces it was created with), at the plug and every start
ALTER TABLE endpoints ADD COLUMN IF NOT EXISTS plugged boolean NOT NULL DEFAULT false;

-- An endpoint's address lies inside its network, is not the network, broadcast or
-- gateway address, and its container belongs to the network's tenant.
-- SECURITY DEFINER: it must see the real network and container rows, whatever the caller's row-level
-- security allows. Like every definer function here (docs/security.md "Control plane: SQL privileges"):
-- search_path pinned to pg_catalog (functions, operators and types resolve there only; the caller's
-- schemas are never searched), relations and functions schema-qualified, no EXECUTE for PUBLIC.
-- The pinned path costs ~2 µs per row (GUC save/restore), measured against ~14 µs for the row's triggers.
CREATE OR REPLACE FUNCTION endpoint_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n public.networks%ROWTYPE;
  c_tenant pg_catalog.uuid;
BEGIN
  SELECT * INTO n FROM public.networks WHERE id = NEW.network_id;
  IF NOT (NEW.ip << n.cidr) OR pg_catalog.host(NEW.ip) = pg_catalog.host(pg_catalog.network(n.cidr))
     OR pg_catalog.host(NEW.ip) = pg_catalog.host(pg_catalog.broadcast(n.cidr))
     OR (n.gateway IS NOT NULL AND pg_catalog.host(NEW.ip)::pg_catalog.inet = pg_catalog.host(n.gateway)::pg_catalog.inet) THEN
    RAISE EXCEPTION 'address % is not a host address of network % (%)', pg_catalog.host(NEW.ip), n.name, n.cidr
      USING ERRCODE = '23514', CONSTRAINT = 'endpoints_ip_in_network';
  END IF;
  SELECT tenant_id INTO c_tenant FROM public.containers WHERE id = NEW.container_id;
  IF c_tenant <> n.tenant_id OR NEW.tenant_id <> n.tenant_id THEN
    RAISE EXCEPTION 'endpoint tenant differs from its network''s tenant'
      USING ERRCODE = '23514', CONSTRAINT = 'endpoints_same_tenant';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS endpoints_check ON endpoints;
CREATE TRIGGER endpoints_check BEFORE INSERT OR UPDATE ON endpoints
  FOR EACH ROW EXECUTE FUNCTION endpoint_check();

-- ESP key material per ipsec network and node pair (node_a < node_b by id).
CREATE TABLE IF NOT EXISTS ipsec_keys (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  network_id uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  node_a     uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  node_b     uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  generation int NOT NULL,
  spi_ab     bigint NOT NULL,
  spi_ba     bigint NOT NULL,
  key_ab     text NOT NULL,
  key_ba     text NOT NULL,
  phase      text NOT NULL DEFAULT 'inbound' CHECK (phase IN ('inbound', 'active', 'retiring')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (node_a < node_b),
  UNIQUE (network_id, node_a, node_b, generation)
);
-- The change-log revision of the row's last phase change: the key manager waits for both
-- nodes' applied_revision to reach it before the next rotation step.
ALTER TABLE ipsec_keys ADD COLUMN IF NOT EXISTS revision bigint NOT NULL DEFAULT 0;

-- Key rotations asked for through the API (POST .../rotate-keys); the key manager removes a
-- request once every node pair of the network has a key generated after it.
CREATE TABLE IF NOT EXISTS ipsec_rotations (
  network_id   uuid PRIMARY KEY REFERENCES networks(id) ON DELETE CASCADE,
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  requested_at timestamptz NOT NULL DEFAULT now()
);

-- Audit log of mutating API calls.
CREATE TABLE IF NOT EXISTS audit_log (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  actor     text NOT NULL,
  tenant_id uuid,
  method    text NOT NULL,
  path      text NOT NULL,
  status    int NOT NULL
);
-- Who from where did what to which object, and how it ended (added later: idempotent).
-- source: the client address (X-Forwarded-For only behind --trust-proxy); action: the operation
-- ('create network', 'revoke token', 'authenticate', 'stream connect'); outcome + code: the
-- error code of a failure; count: failed authentications folded into one row per address and interval.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS source text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS action text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS object text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS outcome text CHECK (outcome IN ('success', 'failure'));
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS code text;
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS count int NOT NULL DEFAULT 1 CHECK (count >= 1);

-- Change log: one row per change that affects forwarding or runtime state, with a
-- revision that grows in commit order (writers serialise on an advisory lock taken
-- just before the revision is drawn, so a reader never sees revision N+1 before N).
CREATE TABLE IF NOT EXISTS change_log (
  revision   bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  kind       text NOT NULL,
  object_id  uuid NOT NULL,
  op         text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  tenant_id  uuid,
  network_id uuid,
  node_ids   uuid[] NOT NULL DEFAULT '{}'
);

-- Appends to change_log and notifies. Not SECURITY DEFINER and executable by the owner only: the
-- log_* trigger functions below are the definer functions that call it (pinned search_path), so
-- no other role, freight_api included, can write change_log rows. Everything is schema-qualified.
CREATE OR REPLACE FUNCTION record_change(kind text, obj uuid, op text, tenant uuid, net uuid, nodes uuid[])
RETURNS void LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE rev pg_catalog.int8;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(7405517::pg_catalog.int8); -- LOCKS.CHANGE_LOG in controller/store/locks.ts
  INSERT INTO public.change_log (kind, object_id, op, tenant_id, network_id, node_ids)
  VALUES (kind, obj, pg_catalog.lower(op), tenant, net, pg_catalog.array_remove(nodes, NULL::pg_catalog.uuid))
  RETURNING revision INTO rev;
  PERFORM pg_catalog.pg_notify('freight_change', rev::pg_catalog.text);
END $$;

-- One trigger function per table: PL/pgSQL resolves every record field it reads,
-- so a shared function cannot branch on the table's columns.
CREATE OR REPLACE FUNCTION log_network() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.networks%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.record_change('networks', r.id, TG_OP, r.tenant_id, r.id, '{}');
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION log_container() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.containers%ROWTYPE; old_node uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' THEN
    -- observed state and timestamps are bookkeeping, not desired state
    IF OLD.node_id IS NOT DISTINCT FROM NEW.node_id AND OLD.desired_state = NEW.desired_state
       AND OLD.generation = NEW.generation THEN
      RETURN NULL;
    END IF;
    old_node := OLD.node_id;
  END IF;
  PERFORM public.record_change('containers', r.id, TG_OP, r.tenant_id, r.network_id, ARRAY[old_node, r.node_id]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION log_endpoint() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.endpoints%ROWTYPE; old_node uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' THEN old_node := OLD.node_id; END IF;
  PERFORM public.record_change('endpoints', r.id, TG_OP, r.tenant_id, r.network_id, ARRAY[old_node, r.node_id]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION log_node() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.nodes%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' AND OLD.underlay_ip = NEW.underlay_ip AND OLD.underlay_mtu = NEW.underlay_mtu
     AND OLD.ready = NEW.ready THEN
    RETURN NULL;  -- heartbeats and acks are not forwarding state
  END IF;
  PERFORM public.record_change('nodes', r.id, TG_OP, NULL, NULL, ARRAY[r.id]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION log_ipsec_key() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.ipsec_keys%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' AND OLD.phase = NEW.phase AND OLD.generation = NEW.generation AND OLD.spi_ab = NEW.spi_ab
     AND OLD.spi_ba = NEW.spi_ba AND OLD.key_ab = NEW.key_ab AND OLD.key_ba = NEW.key_ba THEN
    RETURN NULL;  -- the key manager's bookkeeping (revision), not key state
  END IF;
  PERFORM public.record_change('ipsec_keys', r.id, TG_OP, NULL, r.network_id, ARRAY[r.node_a, r.node_b]);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS networks_log ON networks;
CREATE TRIGGER networks_log AFTER INSERT OR UPDATE OR DELETE ON networks FOR EACH ROW EXECUTE FUNCTION log_network();
DROP TRIGGER IF EXISTS containers_log ON containers;
CREATE TRIGGER containers_log AFTER INSERT OR UPDATE OR DELETE ON containers FOR EACH ROW EXECUTE FUNCTION log_container();
DROP TRIGGER IF EXISTS endpoints_log ON endpoints;
CREATE TRIGGER endpoints_log AFTER INSERT OR UPDATE OR DELETE ON endpoints FOR EACH ROW EXECUTE FUNCTION log_endpoint();
DROP TRIGGER IF EXISTS nodes_log ON nodes;
CREATE TRIGGER nodes_log AFTER INSERT OR UPDATE OR DELETE ON nodes FOR EACH ROW EXECUTE FUNCTION log_node();
DROP TRIGGER IF EXISTS ipsec_keys_log ON ipsec_keys;
CREATE TRIGGER ipsec_keys_log AFTER INSERT OR UPDATE OR DELETE ON ipsec_keys FOR EACH ROW EXECUTE FUNCTION log_ipsec_key();
DROP FUNCTION IF EXISTS log_change();

-- One infra instance per network: its reserved address, MAC and node.
CREATE OR REPLACE VIEW infra_instances AS
  SELECT c.network_id, c.id AS container_id, e.ip, e.mac, c.node_id, c.observed_state
  FROM containers c JOIN endpoints e ON e.container_id = c.id
  WHERE c.kind = 'infra';

-- Row-level security: the second line of tenant isolation (docs/security.md).
-- Every API transaction runs as freight_api (SET LOCAL ROLE) with freight.tenant set to the
-- caller's tenant id, or '*' for admins; without the setting a query sees no row. The table
-- owner (migrations, the push loader, the key manager) is not subject to these policies.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    CREATE ROLE freight_api NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- another database's migrate created it meanwhile
END $$;
DO $$
BEGIN
  -- a non-superuser owner must be a member to SET ROLE; a superuser needs nothing
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AND NOT pg_has_role(current_user, 'freight_api', 'MEMBER') THEN
    EXECUTE format('GRANT freight_api TO %I', current_user);
  END IF;
END $$;

-- Invoker functions (inlined into the policies, so no SET): schema-qualified calls.
CREATE OR REPLACE FUNCTION freight_scope_visible(tenant uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT tenant::text = pg_catalog.current_setting('freight.tenant', true) OR pg_catalog.current_setting('freight.tenant', true) = '*'
$$;
-- Admin transactions only (freight.tenant = '*'): rows that belong to no tenant or to every one.
CREATE OR REPLACE FUNCTION freight_scope_admin() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.current_setting('freight.tenant', true) = '*'
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE networks ENABLE ROW LEVEL SECURITY;
ALTER TABLE containers ENABLE ROW LEVEL SECURITY;
ALTER TABLE endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE ipsec_rotations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_scope ON tenants;
CREATE POLICY tenant_scope ON tenants USING (freight_scope_visible(id));
DROP POLICY IF EXISTS tenant_scope ON networks;
CREATE POLICY tenant_scope ON networks USING (freight_scope_visible(tenant_id));
DROP POLICY IF EXISTS tenant_scope ON containers;
CREATE POLICY tenant_scope ON containers USING (freight_scope_visible(tenant_id));
DROP POLICY IF EXISTS tenant_scope ON endpoints;
CREATE POLICY tenant_scope ON endpoints USING (freight_scope_visible(tenant_id));
DROP POLICY IF EXISTS tenant_scope ON ipsec_rotations;
CREATE POLICY tenant_scope ON ipsec_rotations USING (freight_scope_visible(tenant_id));

-- change_log and audit_log name every tenant's objects and calls: admin transactions only.
ALTER TABLE change_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS admin_scope ON change_log;
CREATE POLICY admin_scope ON change_log FOR SELECT USING (freight_scope_admin());
DROP POLICY IF EXISTS admin_scope ON audit_log;
CREATE POLICY admin_scope ON audit_log FOR SELECT USING (freight_scope_admin());
-- Tenants are created and deleted by admin routes only: a tenant-scoped transaction may read
-- (and lock, FOR UPDATE: the image repository cap serialises on it) its own row, never insert or
-- delete one (restrictive policies, ANDed with tenant_scope).
DROP POLICY IF EXISTS admin_insert ON tenants;
CREATE POLICY admin_insert ON tenants AS RESTRICTIVE FOR INSERT WITH CHECK (freight_scope_admin());
DROP POLICY IF EXISTS admin_delete ON tenants;
CREATE POLICY admin_delete ON tenants AS RESTRICTIVE FOR DELETE USING (freight_scope_admin());

-- What the API may touch, and nothing more: no ipsec_keys (key material never reaches the API),
-- no change_log writes (only the log_* trigger functions write it), no schema_version, and no
-- token writes or node removal: those admin routes run as the owner (controller/api/route.ts,
-- RouteDef.owner), as does authentication, so freight_api has no right on tokens at all.
GRANT USAGE ON SCHEMA public TO freight_api;
GRANT SELECT, INSERT, DELETE ON tenants TO freight_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON networks, containers, endpoints, ipsec_rotations TO freight_api;
REVOKE ALL ON nodes, tokens FROM freight_api;  -- also takes the column rights (UPDATE (name)) of older schemas
GRANT SELECT ON nodes TO freight_api;
GRANT UPDATE (name) ON tenants TO freight_api;  -- SELECT ... FOR UPDATE needs an UPDATE right; names never change
GRANT SELECT ON change_log, audit_log TO freight_api;
REVOKE ALL ON ipsec_keys, schema_version FROM freight_api;

-- Cluster-wide figures a tenant-scoped transaction cannot compute from the rows it sees.
-- Node loads count every tenant's containers (scheduling must not depend on who asks).
CREATE OR REPLACE FUNCTION freight_node_loads(ready_only boolean)
RETURNS TABLE (id uuid, name text, ready boolean, containers bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT n.id, n.name, n.ready, pg_catalog.count(c.id) FROM public.nodes n LEFT JOIN public.containers c ON c.node_id = n.id
   WHERE n.ready OR NOT ready_only GROUP BY n.id, n.name, n.ready
$$;
-- VNIs are unique across tenants. Drawn at random among the free ones: the lowest free VNI
-- told a tenant how many networks other tenants had made (docs/security.md). The lowest free
-- one only when 32 random draws all hit used VNIs (a nearly full space).
CREATE OR REPLACE FUNCTION freight_free_vni() RETURNS int
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT COALESCE(
    (SELECT r.v FROM (SELECT (1 + pg_catalog.floor(pg_catalog.random() * 16777215))::pg_catalog.int4 AS v
                        FROM pg_catalog.generate_series(1, 32)) r
      WHERE NOT EXISTS (SELECT 1 FROM public.networks n WHERE n.vni = r.v) LIMIT 1),
    (SELECT pg_catalog.min(u.v + 1) FROM (SELECT 0 AS v UNION ALL SELECT vni FROM public.networks) u
      WHERE u.v < 16777215 AND NOT EXISTS (SELECT 1 FROM public.networks n WHERE n.vni = u.v + 1)))
$$;

-- No function of ours is executable by PUBLIC: a database role that is neither the owner nor
-- freight_api (an attacker with a login) can call none of them, nor attach the trigger functions
-- to a table of its own. Trigger functions need no EXECUTE when their trigger fires.
REVOKE ALL ON FUNCTION freight_node_loads(boolean), freight_free_vni(), freight_scope_visible(uuid), freight_scope_admin(),
  record_change(text, uuid, text, uuid, uuid, uuid[]), endpoint_check(), log_network(), log_container(), log_endpoint(),
  log_node(), log_ipsec_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION freight_node_loads(boolean), freight_free_vni(), freight_scope_visible(uuid), freight_scope_admin() TO freight_api;
-- PostgreSQL < 15 lets every role create objects in public (so in every definer function's path
-- that names it): take that right away, as PostgreSQL 15 does. A no-op where it is already gone.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

INSERT INTO schema_version (version) VALUES (1) ON CONFLICT DO NOTHING;

-- Image repositories a tenant may pull RPM images from: a yum repository URL and the
-- OpenPGP public key its image RPMs are signed with (docs/images.md). Nodes build each
-- tenant's rpm keyring from exactly these keys, so removing a row revokes the key.
CREATE TABLE IF NOT EXISTS image_repositories (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name       text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  url        text NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$'),
  public_key text NOT NULL CHECK (public_key LIKE '%-----BEGIN PGP PUBLIC KEY BLOCK-----%'),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, url)
);

-- A tenant's repositories are part of its RPM containers' view items (keys, URLs): log them.
CREATE OR REPLACE FUNCTION log_image_repository() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.image_repositories%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.record_change('image_repositories', r.id, TG_OP, r.tenant_id, NULL, '{}');
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION log_image_repository() FROM PUBLIC;
DROP TRIGGER IF EXISTS image_repositories_log ON image_repositories;
CREATE TRIGGER image_repositories_log AFTER INSERT OR UPDATE OR DELETE ON image_repositories
  FOR EACH ROW EXECUTE FUNCTION log_image_repository();

-- Tenant scope for the API role, where row-level security is set up (above, when present).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, DELETE ON image_repositories TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE image_repositories ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON image_repositories';
    EXECUTE 'CREATE POLICY tenant_scope ON image_repositories USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;

-- Repository fetch hardening (docs/security.md "Control plane: repository fetches"):
-- allow_http is set by an admin only; metadata_* remember the newest repomd.xml the
-- controller read (revision, primary timestamp, signed), so an older one is refused.
-- The change-log trigger ignores these columns: recording a revision is no view change.
ALTER TABLE image_repositories ADD COLUMN IF NOT EXISTS allow_http boolean NOT NULL DEFAULT false;
ALTER TABLE image_repositories ADD COLUMN IF NOT EXISTS metadata_revision bigint;
ALTER TABLE image_repositories ADD COLUMN IF NOT EXISTS metadata_timestamp bigint;
ALTER TABLE image_repositories ADD COLUMN IF NOT EXISTS metadata_signed boolean NOT NULL DEFAULT false;
DROP TRIGGER IF EXISTS image_repositories_log ON image_repositories;
CREATE TRIGGER image_repositories_log AFTER INSERT OR DELETE OR UPDATE OF tenant_id, name, url, public_key ON image_repositories
  FOR EACH ROW EXECUTE FUNCTION log_image_repository();
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT UPDATE (metadata_revision, metadata_timestamp, metadata_signed) ON image_repositories TO freight_api';
  END IF;
END $$;

-- Node admission and revocation (docs/security.md, "Control plane: revocation and backpressure").
-- A node row is created only by an admin action: creating a node token registers its node (underlay
-- 0.0.0.0 and NotReady until the agent's first hello). The agent's hello only updates an existing row,
-- so a deleted or unknown node never comes back by reconnecting.
CREATE OR REPLACE FUNCTION freight_node_token_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO public.nodes (name, underlay_ip) VALUES (NEW.node_name, '0.0.0.0') ON CONFLICT (name) DO NOTHING;
  RETURN NULL;
END $$;
-- Upgrading from a version where the hello created rows: register, once, the nodes of valid
-- node tokens that never connected (afterwards a row only comes from creating a token).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'tokens_register_node') THEN
    INSERT INTO public.nodes (name, underlay_ip)
    SELECT DISTINCT node_name, '0.0.0.0'::inet FROM public.tokens
     WHERE kind = 'node' AND revoked_at IS NULL AND node_name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
    ON CONFLICT (name) DO NOTHING;
  END IF;
END $$;
DROP TRIGGER IF EXISTS tokens_register_node ON tokens;
CREATE TRIGGER tokens_register_node AFTER INSERT ON tokens FOR EACH ROW
  WHEN (NEW.kind = 'node' AND NEW.revoked_at IS NULL) EXECUTE FUNCTION freight_node_token_created();

-- A revoked node token is a change (every replica closes its streams in revision order, before it
-- sends anything newer); a node left without a valid token is NotReady at once.
CREATE OR REPLACE FUNCTION freight_node_token_revoked() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE nid uuid;
BEGIN
  SELECT id INTO nid FROM public.nodes WHERE name = NEW.node_name;
  UPDATE public.nodes SET ready = false WHERE id = nid AND ready
     AND NOT EXISTS (SELECT 1 FROM public.tokens k WHERE k.kind = 'node' AND k.node_name = NEW.node_name AND k.revoked_at IS NULL);
  PERFORM public.record_change('tokens', NEW.id, 'update', NULL, NULL, ARRAY[nid]);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tokens_revoked ON tokens;
CREATE TRIGGER tokens_revoked AFTER UPDATE OF revoked_at ON tokens FOR EACH ROW
  WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.kind = 'node') EXECUTE FUNCTION freight_node_token_revoked();

-- Deleting a node revokes its tokens (whoever deletes it, however).
CREATE OR REPLACE FUNCTION freight_node_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE public.tokens SET revoked_at = now() WHERE kind = 'node' AND node_name = OLD.name AND revoked_at IS NULL;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS nodes_revoke_tokens ON nodes;
CREATE TRIGGER nodes_revoke_tokens AFTER DELETE ON nodes FOR EACH ROW EXECUTE FUNCTION freight_node_deleted();
REVOKE ALL ON FUNCTION freight_node_token_created(), freight_node_token_revoked(), freight_node_deleted() FROM PUBLIC;

-- Idempotency-Key answers (controller/api/idempotency.ts), per token: the SHA-256 of the key, the
-- hash of the request (method, path, body), the first answer's status and its body encrypted under a
-- key derived from the Idempotency-Key (the table never holds a usable token secret). status NULL =
-- the first request still runs. Rows expire (24 h); the owner reads and writes them, freight_api never.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  actor        uuid NOT NULL,
  key_hash     text NOT NULL,
  request_hash text NOT NULL,
  status       int,
  answer       bytea,
  claimed_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (actor, key_hash)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'REVOKE ALL ON idempotency_keys FROM freight_api';
  END IF;
END $$;

-- Tenant routers (docs/dataplane.md "Routers"): a network is attached to at most one router of its
-- tenant (networks.router_id); a router with networks attached cannot be deleted (RESTRICT). `slot`
-- numbers the router cluster-wide: each node derives the router's transfer link addresses from it.
CREATE TABLE IF NOT EXISTS routers (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  name       text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  external   boolean NOT NULL DEFAULT false,
  slot       int NOT NULL UNIQUE CHECK (slot BETWEEN 0 AND 8191),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
ALTER TABLE networks ADD COLUMN IF NOT EXISTS router_id uuid REFERENCES routers(id) ON DELETE RESTRICT;
CREATE INDEX IF NOT EXISTS networks_router ON networks (router_id);

-- A network and its router belong to one tenant.
CREATE OR REPLACE FUNCTION network_router_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.router_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.routers r WHERE r.id = NEW.router_id AND r.tenant_id = NEW.tenant_id) THEN
    RAISE EXCEPTION 'router of another tenant' USING ERRCODE = '23514', CONSTRAINT = 'networks_router_same_tenant';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS networks_router_check ON networks;
CREATE TRIGGER networks_router_check BEFORE INSERT OR UPDATE OF router_id ON networks
  FOR EACH ROW EXECUTE FUNCTION network_router_check();

-- Attaching or detaching a network changes which nodes need the router's other networks: every
-- network of the old and new router is logged, naming the nodes that host any of them, so an agent
-- resuming across the change re-reads those networks whole (controller/view/diff.ts resumeOps).
CREATE OR REPLACE FUNCTION log_network_router() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE nodes uuid[]; n record;
BEGIN
  SELECT pg_catalog.array_agg(DISTINCT e.node_id) INTO nodes FROM public.endpoints e JOIN public.networks x ON x.id = e.network_id
   WHERE x.router_id IN (OLD.router_id, NEW.router_id) OR x.id = NEW.id;
  FOR n IN SELECT x.id, x.tenant_id FROM public.networks x WHERE x.router_id IN (OLD.router_id, NEW.router_id) OR x.id = NEW.id LOOP
    PERFORM public.record_change('networks', n.id, 'update', n.tenant_id, n.id, COALESCE(nodes, '{}'));
  END LOOP;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS networks_router_log ON networks;
CREATE TRIGGER networks_router_log AFTER UPDATE OF router_id ON networks FOR EACH ROW
  WHEN (OLD.router_id IS DISTINCT FROM NEW.router_id) EXECUTE FUNCTION log_network_router();

-- A router's own fields are part of its networks' view items: log each attached network.
CREATE OR REPLACE FUNCTION log_router() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE n record;
BEGIN
  FOR n IN SELECT x.id, x.tenant_id FROM public.networks x WHERE x.router_id = NEW.id LOOP
    PERFORM public.record_change('networks', n.id, 'update', n.tenant_id, n.id, '{}');
  END LOOP;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS routers_log ON routers;
CREATE TRIGGER routers_log AFTER UPDATE ON routers FOR EACH ROW EXECUTE FUNCTION log_router();
REVOKE ALL ON FUNCTION network_router_check(), log_network_router(), log_router() FROM PUBLIC;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON routers TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE routers ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON routers';
    EXECUTE 'CREATE POLICY tenant_scope ON routers USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;
-- Router slots are unique cluster-wide: a tenant-scoped transaction cannot see the others' slots.
CREATE OR REPLACE FUNCTION freight_free_router_slot() RETURNS int
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s FROM pg_catalog.generate_series(0, 8191) s WHERE NOT EXISTS (SELECT 1 FROM public.routers r WHERE r.slot = s) LIMIT 1
$$;
REVOKE ALL ON FUNCTION freight_free_router_slot() FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT EXECUTE ON FUNCTION freight_free_router_slot() TO freight_api';
  END IF;
END $$;
-- Events stream (controller/events/, docs/api.md "Events"): tenants are logged like every other
-- object, so `GET /v1/events` reports their creation and removal with a revision. The push hub
-- ignores kinds it does not know. tenant_id is the tenant's own id (a tenant token sees its row).
CREATE OR REPLACE FUNCTION log_tenant() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.tenants%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.record_change('tenants', r.id, TG_OP, r.id, NULL, '{}');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tenants_log ON tenants;
CREATE TRIGGER tenants_log AFTER INSERT OR DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION log_tenant();

-- Observed state is bookkeeping, not logged (no revision, no push work), but the events stream
-- reports it live: a NOTIFY on freight_status naming the object ('containers:<id>', 'nodes:<id>')
-- when a container's observed state or a node's applied/desired revision or last-seen changes.
-- The payload names the object only; the events hub reads it and applies the tenant scope.
CREATE OR REPLACE FUNCTION notify_status() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM pg_catalog.pg_notify('freight_status', TG_TABLE_NAME || ':' || NEW.id::pg_catalog.text);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS containers_status ON containers;
CREATE TRIGGER containers_status AFTER UPDATE OF observed_state, exit_code, reason, restarts ON containers FOR EACH ROW
  WHEN (OLD.observed_state IS DISTINCT FROM NEW.observed_state OR OLD.exit_code IS DISTINCT FROM NEW.exit_code
        OR OLD.reason IS DISTINCT FROM NEW.reason OR OLD.restarts IS DISTINCT FROM NEW.restarts)
  EXECUTE FUNCTION notify_status();
DROP TRIGGER IF EXISTS nodes_status ON nodes;
CREATE TRIGGER nodes_status AFTER UPDATE OF applied_revision, desired_revision, capabilities ON nodes FOR EACH ROW
  WHEN (OLD.applied_revision IS DISTINCT FROM NEW.applied_revision OR OLD.desired_revision IS DISTINCT FROM NEW.desired_revision
        OR OLD.capabilities IS DISTINCT FROM NEW.capabilities)
  EXECUTE FUNCTION notify_status();
REVOKE ALL ON FUNCTION log_tenant(), notify_status() FROM PUBLIC;

-- Routers' own rows in the change log (kind 'routers'), for the events stream: creation, removal
-- and changes of a router as such. The push hub ignores the kind (a router reaches the views
-- through its networks' rows, logged above).
CREATE OR REPLACE FUNCTION log_router_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.routers%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.record_change('routers', r.id, TG_OP, r.tenant_id, NULL, '{}');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS routers_row_log ON routers;
CREATE TRIGGER routers_row_log AFTER INSERT OR UPDATE OR DELETE ON routers FOR EACH ROW EXECUTE FUNCTION log_router_row();
REVOKE ALL ON FUNCTION log_router_row() FROM PUBLIC;

-- Physical networks and per-type parameters (docs/dataplane.md "Physical networks"). Each type's
-- parameters are typed columns, present only for their type: vxlan/geneve a UDP port (NULL: the type's
-- IANA port, 4789/6081, what rows of older schemas always used; the API stores it explicitly), ipsec an
-- optional rotation period (NULL: the controller's --ipsec-rotate-hours), physical the physical network
-- name nodes map to an interface and an optional 802.1Q VLAN ID. A physical network has no VNI.
-- A VLAN is unique per physical network across all tenants; one flat (untagged) network per physical
-- network. dhcp = false: nodes configure container addresses themselves, the infra serves DNS only.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'networks_type_check'
                  AND pg_get_constraintdef(oid) LIKE '%physical%') THEN
    ALTER TABLE networks DROP CONSTRAINT IF EXISTS networks_type_check;
    ALTER TABLE networks ADD CONSTRAINT networks_type_check CHECK (type IN ('vxlan', 'geneve', 'ipsec', 'physical'));
  END IF;
END $$;
ALTER TABLE networks ALTER COLUMN vni DROP NOT NULL;
ALTER TABLE networks ADD COLUMN IF NOT EXISTS tunnel_port int CHECK (tunnel_port IS NULL OR tunnel_port BETWEEN 1 AND 65535);
ALTER TABLE networks ADD COLUMN IF NOT EXISTS rotate_hours double precision CHECK (rotate_hours IS NULL OR rotate_hours BETWEEN 0.01 AND 8760);
ALTER TABLE networks ADD COLUMN IF NOT EXISTS physical_network text
  CHECK (physical_network IS NULL OR physical_network ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
ALTER TABLE networks ADD COLUMN IF NOT EXISTS vlan int CHECK (vlan IS NULL OR vlan BETWEEN 1 AND 4094);
ALTER TABLE networks ADD COLUMN IF NOT EXISTS dhcp boolean NOT NULL DEFAULT true;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'networks_params') THEN
    ALTER TABLE networks ADD CONSTRAINT networks_params CHECK (CASE type
      WHEN 'vxlan' THEN vni IS NOT NULL AND rotate_hours IS NULL AND physical_network IS NULL AND vlan IS NULL
      WHEN 'geneve' THEN vni IS NOT NULL AND rotate_hours IS NULL AND physical_network IS NULL AND vlan IS NULL
      WHEN 'ipsec' THEN vni IS NOT NULL AND tunnel_port IS NULL AND physical_network IS NULL AND vlan IS NULL
      WHEN 'physical' THEN vni IS NULL AND tunnel_port IS NULL AND rotate_hours IS NULL AND physical_network IS NOT NULL
    END);
  END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS networks_physical_vlan ON networks (physical_network, vlan) WHERE vlan IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS networks_physical_flat ON networks (physical_network) WHERE type = 'physical' AND vlan IS NULL;

-- Allocation pools: when a network has any, container and infra addresses come only from them (a
-- physical segment has hosts Freight does not own). Inside the network's host range, never covering
-- the gateway, never overlapping one another (checked by pool_check and the exclusion constraint).
CREATE TABLE IF NOT EXISTS network_pools (
  network_id uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  first_ip   inet NOT NULL CHECK (family(first_ip) = 4 AND masklen(first_ip) = 32),
  last_ip    inet NOT NULL CHECK (family(last_ip) = 4 AND masklen(last_ip) = 32),
  CHECK (first_ip <= last_ip),
  CONSTRAINT network_pools_no_overlap EXCLUDE USING gist (
    network_id WITH =, int8range(first_ip - '0.0.0.0'::inet, last_ip - '0.0.0.0'::inet, '[]') WITH &&)
);
CREATE OR REPLACE FUNCTION pool_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE n public.networks%ROWTYPE;
BEGIN
  SELECT * INTO n FROM public.networks WHERE id = NEW.network_id;
  IF NOT (NEW.first_ip << n.cidr AND NEW.last_ip << n.cidr)
     OR pg_catalog.host(NEW.first_ip) = pg_catalog.host(pg_catalog.network(n.cidr))
     OR pg_catalog.host(NEW.last_ip) = pg_catalog.host(pg_catalog.broadcast(n.cidr)) THEN
    RAISE EXCEPTION 'pool %-% is not inside the host addresses of network % (%)', pg_catalog.host(NEW.first_ip),
      pg_catalog.host(NEW.last_ip), n.name, n.cidr USING ERRCODE = '23514', CONSTRAINT = 'network_pools_in_network';
  END IF;
  IF n.gateway IS NOT NULL AND pg_catalog.host(n.gateway)::pg_catalog.inet BETWEEN NEW.first_ip AND NEW.last_ip THEN
    RAISE EXCEPTION 'pool %-% contains the gateway of network %', pg_catalog.host(NEW.first_ip), pg_catalog.host(NEW.last_ip), n.name
      USING ERRCODE = '23514', CONSTRAINT = 'network_pools_gateway';
  END IF;
  IF NEW.tenant_id <> n.tenant_id THEN
    RAISE EXCEPTION 'pool tenant differs from its network''s tenant' USING ERRCODE = '23514', CONSTRAINT = 'network_pools_same_tenant';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS network_pools_check ON network_pools;
CREATE TRIGGER network_pools_check BEFORE INSERT OR UPDATE ON network_pools FOR EACH ROW EXECUTE FUNCTION pool_check();
REVOKE ALL ON FUNCTION pool_check() FROM PUBLIC;

-- A node's mappings are forwarding state (the view's MTU of its physical networks): log capability changes.
CREATE OR REPLACE FUNCTION log_node() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.nodes%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' AND OLD.underlay_ip = NEW.underlay_ip AND OLD.underlay_mtu = NEW.underlay_mtu
     AND OLD.ready = NEW.ready AND OLD.capabilities = NEW.capabilities THEN
    RETURN NULL;  -- heartbeats and acks are not forwarding state
  END IF;
  PERFORM public.record_change('nodes', r.id, TG_OP, NULL, NULL, ARRAY[r.id]);
  RETURN NULL;
END $$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, DELETE ON network_pools TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE network_pools ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON network_pools';
    EXECUTE 'CREATE POLICY tenant_scope ON network_pools USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;

-- Package repositories (docs/images.md "Components"): ordinary yum repositories a tenant adds (a
-- distribution mirror, its own builds) with the key their packages must be signed with. The
-- controller compares containers' components with them (`container outdated`); they are never
-- part of a node's view (nodes install images, not packages), hence no change-log trigger.
CREATE TABLE IF NOT EXISTS package_repositories (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id          uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name               text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  url                text NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$'),
  public_key         text NOT NULL CHECK (public_key LIKE '%-----BEGIN PGP PUBLIC KEY BLOCK-----%'),
  allow_http         boolean NOT NULL DEFAULT false,
  metadata_revision  bigint,
  metadata_timestamp bigint,
  metadata_signed    boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name),
  UNIQUE (tenant_id, url)
);
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, DELETE ON package_repositories TO freight_api';
    EXECUTE 'GRANT UPDATE (metadata_revision, metadata_timestamp, metadata_signed) ON package_repositories TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE package_repositories ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON package_repositories';
    EXECUTE 'CREATE POLICY tenant_scope ON package_repositories USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;

-- Published ports (`container run --publish 8080:80/tcp`): DNAT on the hosting node from its underlay
-- address (or host_ip) and host_port to the container's port. node_id mirrors the container's node
-- (trigger below), so a port moves with the container and the unique index refuses a second
-- container asking for the same node address, protocol and port (409).
CREATE TABLE IF NOT EXISTS published_ports (
  container_id uuid NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  proto        text NOT NULL CHECK (proto IN ('tcp', 'udp')),
  host_port    int NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
  port         int NOT NULL CHECK (port BETWEEN 1 AND 65535),
  host_ip      inet CHECK (host_ip IS NULL OR (family(host_ip) = 4 AND masklen(host_ip) = 32)),
  node_id      uuid REFERENCES nodes(id) ON DELETE SET NULL,
  PRIMARY KEY (container_id, proto, host_port)
);
CREATE UNIQUE INDEX IF NOT EXISTS published_ports_node_port
  ON published_ports (node_id, COALESCE(host_ip, '0.0.0.0'::inet), proto, host_port) WHERE node_id IS NOT NULL;

CREATE OR REPLACE FUNCTION published_ports_follow() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE public.published_ports SET node_id = NEW.node_id WHERE container_id = NEW.id AND node_id IS DISTINCT FROM NEW.node_id;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS containers_published_ports ON containers;
CREATE TRIGGER containers_published_ports AFTER UPDATE OF node_id ON containers FOR EACH ROW
  WHEN (OLD.node_id IS DISTINCT FROM NEW.node_id) EXECUTE FUNCTION published_ports_follow();
REVOKE ALL ON FUNCTION published_ports_follow() FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, DELETE ON published_ports TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE published_ports ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON published_ports';
    EXECUTE 'CREATE POLICY tenant_scope ON published_ports USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;

-- Which published ports each node holds, every tenant's (the scheduler keeps a container off a node
-- where its port is taken): node, protocol, port and address only, never the container or tenant.
CREATE OR REPLACE FUNCTION freight_taken_ports()
RETURNS TABLE (node_id uuid, proto text, host_port int, host_ip text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT p.node_id, p.proto, p.host_port, pg_catalog.host(p.host_ip) FROM public.published_ports p WHERE p.node_id IS NOT NULL
$$;
REVOKE ALL ON FUNCTION freight_taken_ports() FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT EXECUTE ON FUNCTION freight_taken_ports() TO freight_api';
  END IF;
END $$;

-- A container's published ports are part of its view item: a change to them alone (PATCH publish)
-- logs the container, naming its node. Rows removed with their container (cascade) log nothing more.
CREATE OR REPLACE FUNCTION log_published_port() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.published_ports%ROWTYPE; c public.containers%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  SELECT * INTO c FROM public.containers WHERE id = r.container_id;
  IF NOT FOUND THEN RETURN NULL; END IF;
  PERFORM public.record_change('containers', c.id, 'update', c.tenant_id, c.network_id, ARRAY[c.node_id]);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS published_ports_log ON published_ports;
CREATE TRIGGER published_ports_log AFTER INSERT OR DELETE ON published_ports FOR EACH ROW EXECUTE FUNCTION log_published_port();
REVOKE ALL ON FUNCTION log_published_port() FROM PUBLIC;

-- Objects change in place (PATCH, docs/api.md "Changing objects"): a description, labels (string →
-- string, for `-l k=v` selectors) and when the object last changed, on tenants, networks, containers.
-- Networks also carry their DHCP options (routes = option 121, NTP = 42, extra DNS servers,
-- search domains) and DNS upstreams (NULL: the agent's --dns-upstream; []: forward nothing).
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS description text CHECK (description IS NULL OR length(description) <= 1024);
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object');
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE networks ADD COLUMN IF NOT EXISTS description text CHECK (description IS NULL OR length(description) <= 1024);
ALTER TABLE networks ADD COLUMN IF NOT EXISTS labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object');
ALTER TABLE networks ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE networks ADD COLUMN IF NOT EXISTS dhcp_options jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(dhcp_options) = 'object');
ALTER TABLE networks ADD COLUMN IF NOT EXISTS dns_upstreams text[] CHECK (dns_upstreams IS NULL OR cardinality(dns_upstreams) <= 8);
ALTER TABLE containers ADD COLUMN IF NOT EXISTS description text CHECK (description IS NULL OR length(description) <= 1024);
ALTER TABLE containers ADD COLUMN IF NOT EXISTS labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object');
CREATE INDEX IF NOT EXISTS networks_labels ON networks USING gin (labels);
CREATE INDEX IF NOT EXISTS containers_labels ON containers USING gin (labels);
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT UPDATE (description, labels, updated_at) ON tenants TO freight_api';
  END IF;
END $$;

-- A container's restart policy and limits reach its node too (applied there without a restart); its
-- labels and description are logged for the events stream (its view item does not change).
CREATE OR REPLACE FUNCTION log_container() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.containers%ROWTYPE; old_node uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_OP = 'UPDATE' THEN
    -- observed state and timestamps are bookkeeping, not desired state
    IF OLD.node_id IS NOT DISTINCT FROM NEW.node_id AND OLD.desired_state = NEW.desired_state
       AND OLD.generation = NEW.generation AND OLD.restart = NEW.restart AND OLD.memory_bytes = NEW.memory_bytes
       AND OLD.cpu_millis IS NOT DISTINCT FROM NEW.cpu_millis AND OLD.pids_max = NEW.pids_max
       AND OLD.labels = NEW.labels AND OLD.description IS NOT DISTINCT FROM NEW.description THEN
      RETURN NULL;
    END IF;
    old_node := OLD.node_id;
  END IF;
  PERFORM public.record_change('containers', r.id, TG_OP, r.tenant_id, r.network_id, ARRAY[old_node, r.node_id]);
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION log_container() FROM PUBLIC;

-- Security groups (docs/security.md "Security groups"): a tenant's named rule sets. A container is a
-- member of the groups listed in container_security_groups, or of its tenant's `default` group when
-- it lists none (the effective groups, freight_effective_groups below). Every tenant has a `default`
-- group (made with the tenant, never deleted): all egress, ingress from members of `default` only.
-- A rule with neither remote_cidr nor remote_group_id matches any address. Rules reference groups of
-- their own tenant only (trigger). Changes are logged as the view items they touch: the containers
-- of the group (their rules, on their node) and a container's endpoints (its addresses in the
-- members' sets on every node of its networks).
CREATE TABLE IF NOT EXISTS security_groups (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name        text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  description text CHECK (description IS NULL OR length(description) <= 1024),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
CREATE TABLE IF NOT EXISTS security_group_rules (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  group_id        uuid NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
  tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  direction       text NOT NULL CHECK (direction IN ('ingress', 'egress')),
  proto           text NOT NULL CHECK (proto IN ('tcp', 'udp', 'icmp', 'any')),
  port_min        int CHECK (port_min BETWEEN 1 AND 65535),
  port_max        int CHECK (port_max BETWEEN 1 AND 65535),
  remote_cidr     cidr CHECK (remote_cidr IS NULL OR family(remote_cidr) = 4),
  -- NO ACTION (checked at statement end): a tenant's delete cascades through its groups and rules
  remote_group_id uuid REFERENCES security_groups(id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT security_group_rules_one_remote CHECK (remote_cidr IS NULL OR remote_group_id IS NULL),
  CONSTRAINT security_group_rules_ports CHECK ((port_min IS NULL) = (port_max IS NULL)
    AND (port_min IS NULL OR (proto IN ('tcp', 'udp') AND port_min <= port_max)))
);
-- A rule's destination ports: a set of ranges (`--port 80,443,8000-8100`, one nft anonymous set);
-- port_min/port_max are its lowest and highest port (the whole set when it is one range).
ALTER TABLE security_group_rules ADD COLUMN IF NOT EXISTS ports int4multirange;
UPDATE security_group_rules SET ports = int4multirange(int4range(port_min, port_max, '[]'))
 WHERE ports IS NULL AND port_min IS NOT NULL;
-- A writer that sets only port_min/port_max (a controller of before port sets) writes that range.
CREATE OR REPLACE FUNCTION security_group_rules_ports_fill() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.ports IS NULL AND NEW.port_min IS NOT NULL THEN
    NEW.ports := int4multirange(int4range(NEW.port_min, NEW.port_max, '[]'));
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS security_group_rules_ports_fill ON security_group_rules;
CREATE TRIGGER security_group_rules_ports_fill BEFORE INSERT OR UPDATE ON security_group_rules
  FOR EACH ROW EXECUTE FUNCTION security_group_rules_ports_fill();
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'security_group_rules_port_set') THEN
    ALTER TABLE security_group_rules ADD CONSTRAINT security_group_rules_port_set CHECK ((ports IS NULL) = (port_min IS NULL)
      AND (ports IS NULL OR (NOT isempty(ports) AND lower(ports) = port_min AND upper(ports) = port_max + 1)));
  END IF;
END $$;
DROP INDEX IF EXISTS security_group_rules_unique;
CREATE UNIQUE INDEX IF NOT EXISTS security_group_rules_unique_ports ON security_group_rules (group_id, direction, proto,
  COALESCE(ports, '{}'::int4multirange), COALESCE(remote_cidr, '0.0.0.0/0'::cidr),
  COALESCE(remote_group_id, '00000000-0000-0000-0000-000000000000'::uuid));
CREATE INDEX IF NOT EXISTS security_group_rules_remote ON security_group_rules (remote_group_id) WHERE remote_group_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS container_security_groups (
  container_id uuid NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  group_id     uuid NOT NULL REFERENCES security_groups(id),
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  PRIMARY KEY (container_id, group_id)
);
CREATE INDEX IF NOT EXISTS container_security_groups_group ON container_security_groups (group_id);

-- A rule's remote group and a membership's group belong to the row's tenant.
CREATE OR REPLACE FUNCTION security_group_tenant_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_TABLE_NAME = 'security_group_rules' THEN
    IF NOT EXISTS (SELECT 1 FROM public.security_groups g WHERE g.id = NEW.group_id AND g.tenant_id = NEW.tenant_id)
       OR (NEW.remote_group_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM public.security_groups g WHERE g.id = NEW.remote_group_id AND g.tenant_id = NEW.tenant_id)) THEN
      RAISE EXCEPTION 'security group of another tenant' USING ERRCODE = '23514', CONSTRAINT = 'security_groups_same_tenant';
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM public.security_groups g WHERE g.id = NEW.group_id AND g.tenant_id = NEW.tenant_id)
     OR NOT EXISTS (SELECT 1 FROM public.containers c WHERE c.id = NEW.container_id AND c.tenant_id = NEW.tenant_id) THEN
    RAISE EXCEPTION 'security group of another tenant' USING ERRCODE = '23514', CONSTRAINT = 'security_groups_same_tenant';
  END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS security_group_rules_check ON security_group_rules;
CREATE TRIGGER security_group_rules_check BEFORE INSERT OR UPDATE ON security_group_rules
  FOR EACH ROW EXECUTE FUNCTION security_group_tenant_check();
DROP TRIGGER IF EXISTS container_security_groups_check ON container_security_groups;
CREATE TRIGGER container_security_groups_check BEFORE INSERT OR UPDATE ON container_security_groups
  FOR EACH ROW EXECUTE FUNCTION security_group_tenant_check();

-- Every tenant has its `default` group: all egress, ingress from the group's own members.
CREATE OR REPLACE FUNCTION security_group_default(tenant uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE g uuid;
BEGIN
  INSERT INTO public.security_groups (tenant_id, name, description)
  VALUES (tenant, 'default', 'all egress; ingress from members of default only') ON CONFLICT (tenant_id, name) DO NOTHING
  RETURNING id INTO g;
  IF g IS NOT NULL THEN
    INSERT INTO public.security_group_rules (group_id, tenant_id, direction, proto) VALUES (g, tenant, 'egress', 'any');
    INSERT INTO public.security_group_rules (group_id, tenant_id, direction, proto, remote_group_id) VALUES (g, tenant, 'ingress', 'any', g);
  END IF;
END $$;
CREATE OR REPLACE FUNCTION tenant_default_group() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.security_group_default(NEW.id);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tenants_default_group ON tenants;
CREATE TRIGGER tenants_default_group AFTER INSERT ON tenants FOR EACH ROW EXECUTE FUNCTION tenant_default_group();
DO $$
DECLARE t uuid;
BEGIN
  FOR t IN SELECT id FROM tenants x WHERE NOT EXISTS (SELECT 1 FROM security_groups g WHERE g.tenant_id = x.id AND g.name = 'default') LOOP
    PERFORM security_group_default(t);
  END LOOP;
END $$;

-- The groups a container is in: its listed ones, else its tenant's default (none for infra instances).
-- Invoker's rights: under the API role, row-level security applies to what it reads.
CREATE OR REPLACE FUNCTION freight_effective_groups(container uuid) RETURNS uuid[] LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN c.kind <> 'container' THEN '{}'::uuid[]
              WHEN EXISTS (SELECT 1 FROM public.container_security_groups m WHERE m.container_id = c.id)
                THEN ARRAY(SELECT m.group_id FROM public.container_security_groups m WHERE m.container_id = c.id ORDER BY m.group_id)
              ELSE ARRAY(SELECT g.id FROM public.security_groups g WHERE g.tenant_id = c.tenant_id AND g.name = 'default') END
    FROM public.containers c WHERE c.id = container
$$;

-- A container's groups changed: its own item (rules, on its node) and its endpoints (its addresses in
-- the members' sets) are logged.
CREATE OR REPLACE FUNCTION log_container_groups(container uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE c record; e record;
BEGIN
  SELECT x.id, x.tenant_id, x.network_id, x.node_id INTO c FROM public.containers x WHERE x.id = container;
  IF c.id IS NULL THEN RETURN; END IF;  -- the container itself is being deleted (logged by its own trigger)
  PERFORM public.record_change('containers', c.id, 'update', c.tenant_id, c.network_id, ARRAY[c.node_id]);
  -- no node ids: nothing moved, so a resuming agent re-reads this endpoint alone, never its whole network
  FOR e IN SELECT x.id, x.network_id FROM public.endpoints x WHERE x.container_id = c.id LOOP
    PERFORM public.record_change('endpoints', e.id, 'update', c.tenant_id, e.network_id, '{}');
  END LOOP;
END $$;
CREATE OR REPLACE FUNCTION log_membership() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.container_security_groups%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM public.log_container_groups(r.container_id);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS container_security_groups_log ON container_security_groups;
CREATE TRIGGER container_security_groups_log AFTER INSERT OR DELETE ON container_security_groups
  FOR EACH ROW EXECUTE FUNCTION log_membership();

-- A rule changed: every container whose effective groups include the group gets its rules again.
CREATE OR REPLACE FUNCTION log_security_rule() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.security_group_rules%ROWTYPE; c record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  FOR c IN SELECT x.id, x.tenant_id, x.network_id, x.node_id FROM public.containers x
            WHERE x.tenant_id = r.tenant_id AND x.kind = 'container' AND r.group_id = ANY(public.freight_effective_groups(x.id)) LOOP
    PERFORM public.record_change('containers', c.id, 'update', c.tenant_id, c.network_id, ARRAY[c.node_id]);
  END LOOP;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS security_group_rules_log ON security_group_rules;
CREATE TRIGGER security_group_rules_log AFTER INSERT OR UPDATE OR DELETE ON security_group_rules
  FOR EACH ROW EXECUTE FUNCTION log_security_rule();
REVOKE ALL ON FUNCTION security_group_tenant_check(), security_group_default(uuid), tenant_default_group(),
  log_container_groups(uuid), log_membership(), log_security_rule(), freight_effective_groups(uuid) FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON security_groups, security_group_rules, container_security_groups TO freight_api';
    EXECUTE 'GRANT EXECUTE ON FUNCTION freight_effective_groups(uuid) TO freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE security_groups ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON security_groups';
    EXECUTE 'CREATE POLICY tenant_scope ON security_groups USING (freight_scope_visible(tenant_id))';
    EXECUTE 'ALTER TABLE security_group_rules ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON security_group_rules';
    EXECUTE 'CREATE POLICY tenant_scope ON security_group_rules USING (freight_scope_visible(tenant_id))';
    EXECUTE 'ALTER TABLE container_security_groups ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON container_security_groups';
    EXECUTE 'CREATE POLICY tenant_scope ON container_security_groups USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;

-- External networks (docs/dataplane.md "External networks and floating IPs"), like Neutron's
-- router:external: a physical network an admin marks `external` is visible to every tenant by name
-- for two uses only, a router's gateway (`router set --external-network`) and floating IPs. Both
-- take addresses of its pools; freight_external_alloc hands them out under the network's row lock,
-- the same lock container address allocation takes, so no address is handed out twice.
ALTER TABLE networks ADD COLUMN IF NOT EXISTS external boolean NOT NULL DEFAULT false;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'networks_external_physical') THEN
    ALTER TABLE networks ADD CONSTRAINT networks_external_physical CHECK (NOT external OR type = 'physical');
  END IF;
END $$;
ALTER TABLE routers ADD COLUMN IF NOT EXISTS external_network_id uuid REFERENCES networks(id) ON DELETE RESTRICT;

-- A router with an external network has one address of it on every node that runs the router
-- (distributed egress: SNAT on the source node), kept by freight_router_gateways_sync below.
CREATE TABLE IF NOT EXISTS router_gateways (
  router_id  uuid NOT NULL REFERENCES routers(id) ON DELETE CASCADE,
  node_id    uuid NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  network_id uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
  ip         inet NOT NULL CHECK (family(ip) = 4 AND masklen(ip) = 32),
  PRIMARY KEY (router_id, node_id),
  UNIQUE (network_id, ip)
);
-- Floating IPs: an address of an external network allocated to a tenant, associated to at most one
-- of its containers (and a container has at most one). One-to-one NAT on the container's node.
CREATE TABLE IF NOT EXISTS floating_ips (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  network_id   uuid NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,
  ip           inet NOT NULL CHECK (family(ip) = 4 AND masklen(ip) = 32),
  container_id uuid REFERENCES containers(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (network_id, ip)
);
CREATE UNIQUE INDEX IF NOT EXISTS floating_ips_container ON floating_ips (container_id) WHERE container_id IS NOT NULL;

-- Addresses of an external network held by router gateways and floating IPs of every tenant (container
-- address allocation skips them; a tenant-scoped caller sees only numbers, never whose).
CREATE OR REPLACE FUNCTION freight_external_used(net uuid) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT g.ip - '0.0.0.0'::inet FROM public.router_gateways g WHERE g.network_id = net
  UNION ALL SELECT f.ip - '0.0.0.0'::inet FROM public.floating_ips f WHERE f.network_id = net
$$;
-- An external network by its tenant's and its own name, for any tenant: id, CIDR, gateway (nothing else of it).
CREATE OR REPLACE FUNCTION freight_external_network(tenant_name text, net_name text)
RETURNS TABLE (id uuid, cidr text, gateway text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT n.id, n.cidr::text, pg_catalog.host(n.gateway) FROM public.networks n JOIN public.tenants t ON t.id = n.tenant_id
   WHERE t.name = tenant_name AND n.name = net_name AND n.external
$$;
-- The lowest free pool address of an external network (or `wanted` if it is one), under the network's
-- row lock; NULL when there is none. Free: no endpoint (infra included), router gateway, floating IP, gateway.
CREATE OR REPLACE FUNCTION freight_external_alloc(net uuid, wanted inet) RETURNS inet
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE gw inet; a inet;
BEGIN
  SELECT n.gateway INTO gw FROM public.networks n WHERE n.id = net AND n.external FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  SELECT x.a INTO a FROM (
    SELECT '0.0.0.0'::inet + g AS a FROM public.network_pools p,
           LATERAL pg_catalog.generate_series(p.first_ip - '0.0.0.0'::inet, p.last_ip - '0.0.0.0'::inet) g
     WHERE p.network_id = net) x
   WHERE (wanted IS NULL OR x.a = pg_catalog.host(wanted)::inet)
     AND (gw IS NULL OR pg_catalog.host(gw)::inet <> x.a)
     AND NOT EXISTS (SELECT 1 FROM public.endpoints e WHERE e.network_id = net AND e.ip = x.a)
     AND NOT EXISTS (SELECT 1 FROM public.router_gateways r WHERE r.network_id = net AND r.ip = x.a)
     AND NOT EXISTS (SELECT 1 FROM public.floating_ips f WHERE f.network_id = net AND f.ip = x.a)
   ORDER BY x.a LIMIT 1;
  RETURN a;
END $$;

-- Keeps a router's gateway addresses equal to the nodes that run it: one per node hosting an endpoint
-- of its networks, none without an external network. A pool that runs dry leaves a node without one
-- (its agent reports the router's error; egress there is refused, never sent another way).
CREATE OR REPLACE FUNCTION freight_router_gateways_sync(rid uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE ext uuid; nd uuid; a inet;
BEGIN
  IF rid IS NULL THEN RETURN; END IF;
  SELECT r.external_network_id INTO ext FROM public.routers r WHERE r.id = rid;
  DELETE FROM public.router_gateways g WHERE g.router_id = rid AND (ext IS NULL OR g.network_id <> ext OR NOT EXISTS (
    SELECT 1 FROM public.endpoints e JOIN public.networks x ON x.id = e.network_id WHERE x.router_id = rid AND e.node_id = g.node_id));
  IF ext IS NULL THEN RETURN; END IF;
  FOR nd IN SELECT DISTINCT e.node_id FROM public.endpoints e JOIN public.networks x ON x.id = e.network_id
             WHERE x.router_id = rid AND e.node_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM public.router_gateways g WHERE g.router_id = rid AND g.node_id = e.node_id) LOOP
    a := public.freight_external_alloc(ext, NULL);
    EXIT WHEN a IS NULL;
    INSERT INTO public.router_gateways (router_id, node_id, network_id, ip) VALUES (rid, nd, ext, a);
  END LOOP;
END $$;
CREATE OR REPLACE FUNCTION router_gateways_on_endpoint() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE rid uuid;
BEGIN
  IF TG_OP <> 'DELETE' THEN
    SELECT r.id INTO rid FROM public.networks x JOIN public.routers r ON r.id = x.router_id
     WHERE x.id = NEW.network_id AND r.external_network_id IS NOT NULL;
    -- the common case, another endpoint on a node that already has the address, costs one lookup
    IF rid IS NOT NULL AND (TG_OP = 'UPDATE' OR NOT EXISTS (
         SELECT 1 FROM public.router_gateways g WHERE g.router_id = rid AND g.node_id = NEW.node_id)) THEN
      PERFORM public.freight_router_gateways_sync(rid);
    END IF;
  ELSE
    SELECT r.id INTO rid FROM public.networks x JOIN public.routers r ON r.id = x.router_id
     WHERE x.id = OLD.network_id AND r.external_network_id IS NOT NULL;
    PERFORM public.freight_router_gateways_sync(rid);
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS endpoints_router_gateways ON endpoints;
CREATE TRIGGER endpoints_router_gateways AFTER INSERT OR DELETE OR UPDATE OF node_id ON endpoints
  FOR EACH ROW EXECUTE FUNCTION router_gateways_on_endpoint();
CREATE OR REPLACE FUNCTION router_gateways_on_network() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.freight_router_gateways_sync(OLD.router_id);
  PERFORM public.freight_router_gateways_sync(NEW.router_id);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS networks_router_gateways ON networks;
CREATE TRIGGER networks_router_gateways AFTER UPDATE OF router_id ON networks FOR EACH ROW
  WHEN (OLD.router_id IS DISTINCT FROM NEW.router_id) EXECUTE FUNCTION router_gateways_on_network();
CREATE OR REPLACE FUNCTION router_gateways_on_router() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM public.freight_router_gateways_sync(NEW.id);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS routers_router_gateways ON routers;
CREATE TRIGGER routers_router_gateways AFTER UPDATE OF external_network_id ON routers FOR EACH ROW
  WHEN (OLD.external_network_id IS DISTINCT FROM NEW.external_network_id) EXECUTE FUNCTION router_gateways_on_router();

-- A gateway address is part of its router's networks' view items on that node: log each of them.
CREATE OR REPLACE FUNCTION log_router_gateway() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE r public.router_gateways%ROWTYPE; n record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  FOR n IN SELECT x.id, x.tenant_id FROM public.networks x WHERE x.router_id = r.router_id LOOP
    PERFORM public.record_change('networks', n.id, 'update', n.tenant_id, n.id, ARRAY[r.node_id]);
  END LOOP;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS router_gateways_log ON router_gateways;
CREATE TRIGGER router_gateways_log AFTER INSERT OR DELETE ON router_gateways FOR EACH ROW EXECUTE FUNCTION log_router_gateway();
-- A floating IP is part of its container's view item (old and new container on association changes).
CREATE OR REPLACE FUNCTION log_floating_ip() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE c record;
BEGIN
  FOR c IN SELECT x.id, x.tenant_id, x.network_id, x.node_id FROM public.containers x
            WHERE x.id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.container_id END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.container_id END) LOOP
    PERFORM public.record_change('containers', c.id, 'update', c.tenant_id, c.network_id, ARRAY[c.node_id]);
  END LOOP;
  IF TG_OP = 'DELETE' THEN
    PERFORM public.record_change('floating_ips', OLD.id, TG_OP, OLD.tenant_id, NULL, '{}');
  ELSE
    PERFORM public.record_change('floating_ips', NEW.id, TG_OP, NEW.tenant_id, NULL, '{}');
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS floating_ips_log ON floating_ips;
CREATE TRIGGER floating_ips_log AFTER INSERT OR DELETE OR UPDATE OF container_id ON floating_ips
  FOR EACH ROW EXECUTE FUNCTION log_floating_ip();
-- What `router show` says of its external side: the network's TENANT/NAME and each node's address (the
-- caller's scope must see the router).
CREATE OR REPLACE FUNCTION freight_router_external(rid uuid) RETURNS TABLE (network text, node text, ip text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.name || '/' || n.name, nd.name, pg_catalog.host(g.ip)
    FROM public.routers r JOIN public.networks n ON n.id = r.external_network_id JOIN public.tenants t ON t.id = n.tenant_id
    LEFT JOIN public.router_gateways g ON g.router_id = r.id AND g.network_id = n.id LEFT JOIN public.nodes nd ON nd.id = g.node_id
   WHERE r.id = rid AND public.freight_scope_visible(r.tenant_id)
   ORDER BY nd.name
$$;
-- TENANT/NAME of an external network (a floating IP's, shown to the tenant that holds it).
CREATE OR REPLACE FUNCTION freight_external_name(net uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT t.name || '/' || n.name FROM public.networks n JOIN public.tenants t ON t.id = n.tenant_id WHERE n.id = net AND n.external
$$;
REVOKE ALL ON FUNCTION freight_external_name(uuid), freight_router_external(uuid), freight_external_used(uuid), freight_external_network(text, text),
  freight_external_alloc(uuid, inet),
  freight_router_gateways_sync(uuid), router_gateways_on_endpoint(), router_gateways_on_network(), router_gateways_on_router(),
  log_router_gateway(), log_floating_ip() FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'freight_api') THEN
    EXECUTE 'GRANT EXECUTE ON FUNCTION freight_external_name(uuid), freight_router_external(uuid), freight_external_used(uuid),
             freight_external_network(text, text), freight_external_alloc(uuid, inet) TO freight_api';
    EXECUTE 'GRANT UPDATE (external_network_id) ON routers TO freight_api';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE (container_id), DELETE ON floating_ips TO freight_api';
    EXECUTE 'REVOKE ALL ON router_gateways FROM freight_api';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'freight_scope_visible') THEN
    EXECUTE 'ALTER TABLE floating_ips ENABLE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS tenant_scope ON floating_ips';
    EXECUTE 'CREATE POLICY tenant_scope ON floating_ips USING (freight_scope_visible(tenant_id))';
  END IF;
END $$;
-- Security groups and their rules in the change log, for the events stream (GET /v1/events): the
-- nodes' views follow through the containers and endpoints a change touches (logged by their own
-- triggers); these rows only say that the group changed. A rule is an update of its group.
CREATE OR REPLACE FUNCTION event_security_group() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM public.record_change('security_groups', OLD.id, TG_OP, OLD.tenant_id, NULL, '{}');
  ELSE
    PERFORM public.record_change('security_groups', NEW.id, TG_OP, NEW.tenant_id, NULL, '{}');
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION event_security_rule() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE g uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.group_id ELSE NEW.group_id END;
DECLARE t uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
  -- the rules of a deleted group go with it (cascade): the group's own delete says so; the rules
  -- a group is created with (a tenant's default) come with its create (same transaction: now())
  IF EXISTS (SELECT 1 FROM public.security_groups x WHERE x.id = g AND NOT (TG_OP = 'INSERT' AND x.created_at = pg_catalog.now())) THEN
    PERFORM public.record_change('security_groups', g, 'update', t, NULL, '{}');
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS security_groups_event ON security_groups;
CREATE TRIGGER security_groups_event AFTER INSERT OR UPDATE OR DELETE ON security_groups
  FOR EACH ROW EXECUTE FUNCTION event_security_group();
-- (not security_group_rules_log: that one, above, logs the containers a rule change touches)
DROP TRIGGER IF EXISTS security_group_rules_event ON security_group_rules;
CREATE TRIGGER security_group_rules_event AFTER INSERT OR UPDATE OR DELETE ON security_group_rules
  FOR EACH ROW EXECUTE FUNCTION event_security_rule();
REVOKE ALL ON FUNCTION event_security_group(), event_security_rule() FROM PUBLIC;
