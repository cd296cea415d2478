-- Image repositories a tenant may pull from: a yum repository URL and the
-- OpenPGP public key its image RPMs are signed with. Nodes build each tenant's
-- rpm keyring from exactly these keys, so removing a row revokes the key.
-- To be merged into schema.sql (after tenants); idempotent like the rest.
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
