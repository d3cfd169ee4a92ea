/*
 * store_pg_schema.c - the PostgreSQL schema of the user store, by version.
 *
 * Version 1 is the SQLite store's schema as of its user_version 2
 * (store.c's tables plus store_migrate.c's step 2), in PostgreSQL's types:
 * ids are BYTEA, times BIGINT unix seconds, the SQLite triggers become
 * PL/pgSQL trigger functions doing the same thing. Two additions serve
 * several nodes: a CHECK that addresses are stored lower-case (the SQLite
 * file relies on COLLATE NOCASE; every caller normalises first anyway), and
 * NOTIFY on the channels magicd_users (a user or group changed: drop cached
 * lookups) and magicd_revoked (a session id in hex: add it to the shared
 * revocation set), which the nodes LISTEN to (app/store_pgw.c).
 *
 * store_pg_migrate (store_pg.c) applies the steps a database lacks, in one
 * transaction (PostgreSQL's DDL is transactional). Adding a version: append
 * a step and raise STORE_PG_VERSION; never edit a step that shipped.
 */
#include "app/store_pg.h"

static const char step1[] =
    "CREATE TABLE users("
    "  id BIGSERIAL PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),"
    "  is_admin INT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  disabled INT NOT NULL DEFAULT 0);"
    "CREATE TABLE auth_events("
    "  id BIGSERIAL PRIMARY KEY,"
    "  event_type TEXT NOT NULL,"
    "  user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX auth_events_user ON auth_events(user_id, created_at);"
    "CREATE TABLE used_links("
    "  id BYTEA PRIMARY KEY,"
    "  expires_at BIGINT NOT NULL);"
    "CREATE INDEX used_links_expiry ON used_links(expires_at);"
    "CREATE TABLE code_tries("
    "  id BYTEA PRIMARY KEY,"
    "  tries INT NOT NULL,"
    "  expires_at BIGINT NOT NULL);"
    "CREATE TABLE user_groups("
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  PRIMARY KEY(user_id, name));"
    "CREATE TABLE sessions("
    "  id BYTEA PRIMARY KEY,"
    "  email TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL,"
    "  revoked_at BIGINT,"
    "  ip TEXT NOT NULL DEFAULT '',"
    "  user_agent TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX sessions_email ON sessions(email, created_at);"
    "CREATE INDEX sessions_expiry ON sessions(expires_at);"
    "CREATE TABLE session_revocations("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  id BYTEA NOT NULL,"
    "  expires_at BIGINT NOT NULL);"
    "CREATE INDEX session_revocations_expiry ON session_revocations(expires_at);"
    "CREATE TABLE link_cutoffs("
    "  email TEXT PRIMARY KEY,"
    "  not_before BIGINT NOT NULL);"
    /* Every revocation, whoever makes it, lands in the log and is announced. */
    "CREATE FUNCTION magicd_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  INSERT INTO session_revocations(id, expires_at) VALUES (NEW.id, NEW.expires_at);"
    "  PERFORM pg_notify('magicd_revoked', encode(NEW.id, 'hex'));"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions"
    "  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)"
    "  EXECUTE FUNCTION magicd_session_revoked();"
    /* A removed or disabled user: sessions revoked, pending links void (the
     * cutoff is the next second: link times are whole seconds). */
    "CREATE FUNCTION magicd_user_gone() RETURNS trigger LANGUAGE plpgsql AS $$"
    "DECLARE t BIGINT := extract(epoch FROM clock_timestamp())::BIGINT;"
    "BEGIN"
    "  UPDATE sessions SET revoked_at = t WHERE email = OLD.email AND revoked_at IS NULL;"
    "  INSERT INTO link_cutoffs(email, not_before) VALUES (OLD.email, t + 1)"
    "    ON CONFLICT (email) DO UPDATE SET not_before = EXCLUDED.not_before;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER users_removed AFTER DELETE ON users"
    "  FOR EACH ROW EXECUTE FUNCTION magicd_user_gone();"
    "CREATE TRIGGER users_disabled AFTER UPDATE OF disabled ON users"
    "  FOR EACH ROW WHEN (NEW.disabled != 0 AND OLD.disabled = 0)"
    "  EXECUTE FUNCTION magicd_user_gone();"
    /* Whatever changed users or groups: nodes drop their cached lookups. */
    "CREATE FUNCTION magicd_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN PERFORM pg_notify('magicd_users', ''); RETURN NULL; END $$;"
    "CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users"
    "  FOR EACH STATEMENT EXECUTE FUNCTION magicd_users_changed();"
    "CREATE TRIGGER user_groups_changed AFTER INSERT OR UPDATE OR DELETE ON user_groups"
    "  FOR EACH STATEMENT EXECUTE FUNCTION magicd_users_changed();";

/* Version 2: magicd_users names the address that changed (a row
 * trigger), so a node drops that one cached answer rather than all of
 * them: with signup on, every new account would otherwise empty every
 * worker's cache. Group changes still say '' (drop everything); they are
 * rare and the cache does not hold groups anyway. */
static const char step2[] =
    "DROP TRIGGER users_changed ON users;"
    "CREATE FUNCTION magicd_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    "  IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('magicd_users', OLD.email); END IF;"
    "  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.email <> OLD.email) THEN"
    "    PERFORM pg_notify('magicd_users', NEW.email);"
    "  END IF;"
    "  RETURN NULL;"
    "END $$;"
    "CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users"
    "  FOR EACH ROW EXECUTE FUNCTION magicd_user_changed();";

const char *const store_pg_steps[STORE_PG_VERSION] = {
    step1, /* 0 -> 1 */
    step2, /* 1 -> 2 */
};
