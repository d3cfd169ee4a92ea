/*
 * cmd_session.c - `magicd session ...`: see and end sessions.
 *
 *   magicd session list EMAIL         one line per session of the user
 *   magicd session revoke ID          end one session (the id from list)
 *   magicd session revoke-all EMAIL   end every session ("log out everywhere")
 *
 * A revocation is written to the store; the running workers read the
 * store's revocation log every REVOKE_POLL_MS (see app/session.h), so it is
 * in force everywhere within about that long, and also after a restart. The
 * command needs no running server and no channel to one.
 *
 * list prints: id (32 hex digits), state (active, revoked, expired), when it
 * began and ends (UTC), and the address and browser it began from.
 */
#include "cmd/cmd_session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/email.h"
#include "app/store.h"
#include "app/store_pg.h"
#include "app/store_session.h"

#define CMD_OK 0
#define CMD_ERR 1
#define CMD_USAGE 2

static int cs_usage(void)
{
    fprintf(stderr, "usage: magicd [-c FILE] session list EMAIL\n"
                    "       magicd [-c FILE] session revoke ID\n"
                    "       magicd [-c FILE] session revoke-all EMAIL\n");
    return CMD_USAGE;
}

static store_t *cs_store(const char *db, int readonly)
{
    char err[1024];
    store_t *s;

    if (!store_pg_is_url(db) && access(db, F_OK) < 0) {
        fprintf(stderr, "magicd: user store %s does not exist yet (add a user first)\n", db);
        return NULL;
    }
    s = store_open_any(db, readonly, err, sizeof err);
    if (!s)
        fprintf(stderr, "magicd: %s\n", err);
    return s;
}

static int cs_email(const char *in, char out[EMAIL_MAX + 1])
{
    if (email_normalize(in, strlen(in), out, EMAIL_MAX + 1) < 0) {
        fprintf(stderr, "magicd: \"%s\" is not a valid email address\n", in);
        return -1;
    }
    return 0;
}

static void cs_time(int64_t t, char out[24])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 24, "-");
}

static void cs_list_cb(const store_session_t *ss, void *arg)
{
    int64_t now = *(const int64_t *)arg;
    char id[33], from[24], to[24];
    const char *state = ss->revoked_at ? "revoked" : ss->expires_at <= now ? "expired" : "active";

    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", ss->id[i]);
    cs_time(ss->created_at, from);
    cs_time(ss->expires_at, to);
    printf("%s %-7s %s %s %-15s %s\n", id, state, from, to, ss->ip[0] ? ss->ip : "-",
           ss->user_agent[0] ? ss->user_agent : "-");
}

static int cs_list(const char *db, int argc, char **argv)
{
    char email[EMAIL_MAX + 1];
    int64_t now = (int64_t)time(NULL);
    store_t *s;
    int n;

    if (argc != 2)
        return cs_usage();
    if (cs_email(argv[1], email) < 0 || !(s = cs_store(db, 1)))
        return CMD_ERR;
    n = store_session_each(s, email, cs_list_cb, &now);
    if (n < 0)
        fprintf(stderr, "magicd: cannot list sessions in %s: %s\n", db, store_errmsg(s));
    else if (n == 0)
        fprintf(stderr, "magicd: no sessions for %s\n", email);
    store_close(s);
    return n < 0 ? CMD_ERR : CMD_OK;
}

static int cs_hex(const char *in, uint8_t out[16])
{
    if (strlen(in) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = in[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v << 4 | (unsigned)d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int cs_revoke(const char *db, int argc, char **argv)
{
    uint8_t id[16];
    store_t *s;
    int r;

    if (argc != 2)
        return cs_usage();
    if (cs_hex(argv[1], id) < 0) {
        fprintf(stderr, "magicd: \"%s\" is not a session id (32 hex digits, from session list)\n",
                argv[1]);
        return CMD_USAGE;
    }
    if (!(s = cs_store(db, 0)))
        return CMD_ERR;
    r = store_session_revoke(s, id, (int64_t)time(NULL));
    if (r == 1)
        printf("magicd: revoked session %s\n", argv[1]);
    else if (r == 0)
        fprintf(stderr, "magicd: no session %s is active\n", argv[1]);
    else
        fprintf(stderr, "magicd: cannot revoke %s in %s: %s\n", argv[1], db, store_errmsg(s));
    store_close(s);
    return r == 1 ? CMD_OK : CMD_ERR;
}

static int cs_revoke_all(const char *db, int argc, char **argv)
{
    char email[EMAIL_MAX + 1];
    store_t *s;
    int n;

    if (argc != 2)
        return cs_usage();
    if (cs_email(argv[1], email) < 0 || !(s = cs_store(db, 0)))
        return CMD_ERR;
    n = store_session_revoke_all(s, email, (int64_t)time(NULL));
    if (n >= 0)
        printf("magicd: revoked %d session%s of %s\n", n, n == 1 ? "" : "s", email);
    else
        fprintf(stderr, "magicd: cannot revoke the sessions of %s in %s: %s\n", email, db,
                store_errmsg(s));
    store_close(s);
    return n < 0 ? CMD_ERR : CMD_OK;
}

int cmd_session(const char *users_db, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "session") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1)
        return cs_usage();
    if (!users_db || !*users_db) {
        fprintf(stderr, "magicd: no user store configured (users_db)\n");
        return CMD_ERR;
    }
    if (strcmp(argv[0], "list") == 0 || strcmp(argv[0], "ls") == 0)
        return cs_list(users_db, argc, argv);
    if (strcmp(argv[0], "revoke") == 0)
        return cs_revoke(users_db, argc, argv);
    if (strcmp(argv[0], "revoke-all") == 0)
        return cs_revoke_all(users_db, argc, argv);
    if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "--help") == 0) {
        cs_usage();
        return CMD_OK;
    }
    fprintf(stderr, "magicd: unknown session command \"%s\"\n", argv[0]);
    return cs_usage();
}
