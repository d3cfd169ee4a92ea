/*
 * cmd_user.c - user management and key generation from the command line.
 *
 *   magicd user add EMAIL [--group G]...  add (an existing user keeps what it
 *                                         has, and joins the groups given)
 *   magicd user remove EMAIL              remove: its sessions are revoked and
 *                                         the links it was sent are void
 *   magicd user disable|enable EMAIL      a disabled user cannot sign in, and
 *                                         disabling revokes its sessions
 *   magicd user list                      one line per user
 *   magicd user import FILE|-             JSON array, in one transaction
 *   magicd user export [FILE|-]           JSON array (default: stdout)
 *   magicd keygen [PATH]                  create the key file, never overwrite
 *
 * Groups are what GET /auth exports (X-Auth-Request-Groups) and checks
 * (?group=NAME); names are 1-64 of [A-Za-z0-9._-]. They replace the old
 * --admin flag, which nothing read: an old file's admins are in "admins".
 *
 * The JSON form is [{"email": "...", "groups": ["admins"], "disabled": false,
 * "created_at": N}]; import also accepts bare strings in the array and the
 * old "is_admin": true (the group "admins"), and fills in no groups and
 * created_at=now when they are missing. Every address goes through
 * email_normalize, so the file may contain "  Demo@Example.com ". An import
 * is all or nothing: the first bad entry is reported by its index and
 * nothing is written.
 *
 * Results go to stdout, problems to stderr, both prefixed "magicd: " so a
 * container log shows where they came from.
 */
#include "cmd/cmd_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/keyfile.h"
#include "app/email.h"
#include "app/store.h"
#include "app/store_pg.h"
#include "app/store_session.h"

#define CMD_OK 0
#define CMD_ERR 1
#define CMD_USAGE 2

static int cmd_usage(void)
{
    fprintf(stderr, "usage: magicd [-c FILE] user add EMAIL [--group GROUP]...\n"
                    "       magicd [-c FILE] user remove EMAIL\n"
                    "       magicd [-c FILE] user disable|enable EMAIL\n"
                    "       magicd [-c FILE] user list\n"
                    "       magicd [-c FILE] user import FILE|-\n"
                    "       magicd [-c FILE] user export [FILE|-]\n");
    return CMD_USAGE;
}

static store_t *cmd_store(const char *users_db, int readonly)
{
    char err[1024];
    store_t *s;

    if (readonly && !store_pg_is_url(users_db) && access(users_db, F_OK) < 0) {
        fprintf(stderr, "magicd: user store %s does not exist yet (add a user first)\n", users_db);
        return NULL;
    }
    s = store_open_any(users_db, readonly, err, sizeof(err));
    if (!s)
        fprintf(stderr, "magicd: %s\n", err);
    return s;
}

static int cmd_email(const char *in, char out[EMAIL_MAX + 1])
{
    if (email_normalize(in, strlen(in), out, EMAIL_MAX + 1) < 0) {
        fprintf(stderr, "magicd: \"%s\" is not a valid email address\n", in);
        return -1;
    }
    return 0;
}

#define CMD_GROUPS_MAX 16

static int cmd_add(const char *db, int argc, char **argv)
{
    const char *addr = NULL, *groups[CMD_GROUPS_MAX];
    char email[EMAIL_MAX + 1];
    int ngroups = 0, rc;
    store_t *s;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0) {
            fprintf(stderr, "magicd: --admin is replaced by groups: --group admins\n");
            return cmd_usage();
        }
        if (strcmp(argv[i], "--group") == 0 || strcmp(argv[i], "-g") == 0) {
            if (i + 1 >= argc || ngroups == CMD_GROUPS_MAX)
                return cmd_usage();
            if (!store_group_name_ok(argv[++i])) {
                fprintf(stderr, "magicd: \"%s\" is not a group name (1-64 of A-Z a-z 0-9 . _ -)\n",
                        argv[i]);
                return CMD_USAGE;
            }
            groups[ngroups++] = argv[i];
        } else if (!addr && argv[i][0] != '-') {
            addr = argv[i];
        } else {
            return cmd_usage();
        }
    }
    if (!addr)
        return cmd_usage();
    if (cmd_email(addr, email) < 0)
        return CMD_ERR;
    if (!(s = cmd_store(db, 0)))
        return CMD_ERR;
    rc = store_begin(s) < 0 ? -1 : store_user_add(s, email, 0);
    for (int i = 0; rc >= 0 && i < ngroups; i++)
        if (store_group_add(s, email, groups[i]) < 0)
            rc = -1;
    if (rc >= 0 && store_commit(s) < 0)
        rc = -1;
    if (rc < 0) {
        fprintf(stderr, "magicd: cannot add %s to %s: %s\n", email, db, store_errmsg(s));
        store_rollback(s);
    } else {
        printf(rc == 0 ? "magicd: added user %s" : "magicd: user %s already exists", email);
        for (int i = 0; i < ngroups; i++)
            printf("%s%s", i ? ", " : rc == 0 ? " in group " : "; added to group ", groups[i]);
        printf(rc == 1 && !ngroups ? " (unchanged)\n"
               : rc == 1           ? " (a browser signed in already gets it at its next sign-in)\n"
                                   : "\n");
    }
    store_close(s);
    return rc < 0 ? CMD_ERR : CMD_OK;
}

static int cmd_disable(const char *db, int argc, char **argv, int disable)
{
    char email[EMAIL_MAX + 1];
    store_t *s;
    int rc;

    if (argc != 2)
        return cmd_usage();
    if (cmd_email(argv[1], email) < 0 || !(s = cmd_store(db, 0)))
        return CMD_ERR;
    rc = store_user_set_disabled(s, email, disable);
    if (rc == 0)
        printf(disable ? "magicd: disabled user %s (its sessions are revoked)\n"
                       : "magicd: enabled user %s\n",
               email);
    else if (rc == 1)
        fprintf(stderr, "magicd: no user %s\n", email);
    else
        fprintf(stderr, "magicd: cannot change %s in %s: %s\n", email, db, store_errmsg(s));
    store_close(s);
    return rc == 0 ? CMD_OK : CMD_ERR;
}

static int cmd_remove(const char *db, int argc, char **argv)
{
    char email[EMAIL_MAX + 1];
    store_t *s;
    int rc;

    if (argc != 2)
        return cmd_usage();
    if (cmd_email(argv[1], email) < 0)
        return CMD_ERR;
    if (!(s = cmd_store(db, 0)))
        return CMD_ERR;
    rc = store_user_remove(s, email);
    if (rc == 0)
        printf("magicd: removed user %s (its sessions are revoked, its links void)\n", email);
    else if (rc == 1)
        fprintf(stderr, "magicd: no user %s\n", email);
    else
        fprintf(stderr, "magicd: cannot remove %s from %s: %s\n", email, db, store_errmsg(s));
    store_close(s);
    return rc == 0 ? CMD_OK : CMD_ERR;
}

static void cmd_list_cb(const store_user_row_t *u, void *arg)
{
    char when[32] = "-";
    time_t t = (time_t)u->created_at;
    struct tm tm;

    (void)arg;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-40s %-8s %-24s %s\n", u->email, u->disabled ? "disabled" : "active",
           u->groups[0] ? u->groups : "-", when);
}

static int cmd_list(const char *db, int argc)
{
    store_t *s;
    int n;

    if (argc != 1)
        return cmd_usage();
    if (!(s = cmd_store(db, 1)))
        return CMD_ERR;
    n = store_user_each(s, cmd_list_cb, NULL);
    if (n < 0)
        fprintf(stderr, "magicd: cannot list users in %s: %s\n", db, store_errmsg(s));
    store_close(s);
    return n < 0 ? CMD_ERR : CMD_OK;
}

static void cmd_export_cb(const store_user_row_t *u, void *arg)
{
    json_t *o = json_object(), *g = json_array();
    const char *p = u->groups;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(g, json_stringn(p, n));
        p += n + (e ? 1 : 0);
    }
    json_object_set_new(o, "email", json_string(u->email));
    json_object_set_new(o, "groups", g);
    json_object_set_new(o, "disabled", json_boolean(u->disabled));
    json_object_set_new(o, "created_at", json_integer(u->created_at));
    json_array_append_new(arg, o);
}

static int cmd_export(const char *db, int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "-";
    json_t *arr;
    store_t *s;
    FILE *f = stdout;
    int n, rc = CMD_OK;

    if (argc > 2)
        return cmd_usage();
    if (!(s = cmd_store(db, 1)))
        return CMD_ERR;
    arr = json_array();
    n = store_user_each(s, cmd_export_cb, arr);
    store_close(s);
    if (n < 0) {
        fprintf(stderr, "magicd: cannot read users from %s\n", db);
        json_decref(arr);
        return CMD_ERR;
    }
    if (strcmp(out, "-") != 0) {
        /* The list is personal data: readable by the owner only. */
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            fprintf(stderr, "magicd: cannot write %s: %s\n", out, strerror(errno));
            if (fd >= 0)
                close(fd);
            json_decref(arr);
            return CMD_ERR;
        }
    }
    if (json_dumpf(arr, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
        rc = CMD_ERR;
    if (f != stdout) {
        if (fclose(f) != 0)
            rc = CMD_ERR;
        if (rc == CMD_OK)
            fprintf(stderr, "magicd: exported %d user%s to %s\n", n, n == 1 ? "" : "s", out);
    } else if (fflush(stdout) != 0) {
        rc = CMD_ERR;
    }
    if (rc != CMD_OK)
        fprintf(stderr, "magicd: cannot write %s: %s\n", out, strerror(errno));
    json_decref(arr);
    return rc;
}

typedef struct {
    char email[EMAIL_MAX + 1];
    const char *groups[CMD_GROUPS_MAX];
    int ngroups;
    int disabled;
    int64_t created;
} cmd_entry_t;

/* One import entry -> normalised email, groups, state, creation time. */
static int cmd_import_entry(json_t *e, size_t i, cmd_entry_t *out)
{
    json_t *em = e, *ad = NULL, *ca = NULL, *gr = NULL, *di = NULL, *g;
    const char *s;
    size_t k;

    memset(out, 0, sizeof *out);
    out->created = (int64_t)time(NULL);
    if (json_is_object(e)) {
        em = json_object_get(e, "email");
        ad = json_object_get(e, "is_admin");
        ca = json_object_get(e, "created_at");
        gr = json_object_get(e, "groups");
        di = json_object_get(e, "disabled");
    }
    if (!json_is_string(em)) {
        fprintf(stderr,
                "magicd: import entry %zu: expected a string or an object with "
                "\"email\"\n",
                i);
        return -1;
    }
    s = json_string_value(em);
    if (email_normalize(s, json_string_length(em), out->email, EMAIL_MAX + 1) < 0) {
        fprintf(stderr, "magicd: import entry %zu: \"%s\" is not a valid email address\n", i, s);
        return -1;
    }
    if (ad && !json_is_boolean(ad) && !json_is_integer(ad)) {
        fprintf(stderr, "magicd: import entry %zu: \"is_admin\" must be true or false\n", i);
        return -1;
    }
    if (ad && (json_is_boolean(ad) ? json_is_true(ad) : json_integer_value(ad) != 0))
        out->groups[out->ngroups++] = "admins";
    if (gr && !json_is_array(gr)) {
        fprintf(stderr, "magicd: import entry %zu: \"groups\" must be an array of names\n", i);
        return -1;
    }
    json_array_foreach(gr, k, g)
    {
        if (!json_is_string(g) || !store_group_name_ok(json_string_value(g)) ||
            out->ngroups == CMD_GROUPS_MAX) {
            fprintf(stderr, "magicd: import entry %zu: group %zu is not a group name\n", i, k);
            return -1;
        }
        out->groups[out->ngroups++] = json_string_value(g);
    }
    if (di && !json_is_boolean(di)) {
        fprintf(stderr, "magicd: import entry %zu: \"disabled\" must be true or false\n", i);
        return -1;
    }
    out->disabled = di && json_is_true(di);
    if (ca && !json_is_null(ca)) {
        if (!json_is_integer(ca) || json_integer_value(ca) < 0) {
            fprintf(stderr, "magicd: import entry %zu: \"created_at\" must be unix seconds\n", i);
            return -1;
        }
        out->created = json_integer_value(ca);
    }
    return 0;
}

static int cmd_import(const char *db, int argc, char **argv)
{
    json_error_t je;
    json_t *arr, *e;
    store_t *s;
    size_t i;
    int added = 0, present = 0, rc = CMD_OK;

    if (argc != 2)
        return cmd_usage();
    arr = strcmp(argv[1], "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(argv[1], 0, &je);
    if (!arr) {
        const char *what = strcmp(argv[1], "-") == 0 ? "standard input" : argv[1];
        if (je.line > 0)
            fprintf(stderr, "magicd: cannot import %s: %s (line %d, column %d)\n", what, je.text,
                    je.line, je.column);
        else
            fprintf(stderr, "magicd: cannot import %s: %s\n", what, je.text);
        return CMD_ERR;
    }
    if (!json_is_array(arr)) {
        fprintf(stderr, "magicd: cannot import %s: expected a JSON array of users\n", argv[1]);
        json_decref(arr);
        return CMD_ERR;
    }
    if (!(s = cmd_store(db, 0))) {
        json_decref(arr);
        return CMD_ERR;
    }
    if (store_begin(s) < 0) {
        fprintf(stderr, "magicd: %s: %s\n", db, store_errmsg(s));
        rc = CMD_ERR;
        goto out;
    }
    json_array_foreach(arr, i, e)
    {
        cmd_entry_t u;
        int r;

        if (cmd_import_entry(e, i, &u) < 0) {
            rc = CMD_ERR;
            break;
        }
        r = store_user_add_at(s, u.email, 0, u.created);
        for (int k = 0; r >= 0 && k < u.ngroups; k++)
            if (store_group_add(s, u.email, u.groups[k]) < 0)
                r = -1;
        if (r >= 0 && u.disabled && store_user_set_disabled(s, u.email, 1) < 0)
            r = -1;
        if (r < 0) {
            fprintf(stderr, "magicd: import entry %zu (%s): %s\n", i, u.email, store_errmsg(s));
            rc = CMD_ERR;
            break;
        }
        if (r == 0)
            added++;
        else
            present++;
    }
    if (rc == CMD_OK && store_commit(s) < 0) {
        fprintf(stderr, "magicd: %s: %s\n", db, store_errmsg(s));
        rc = CMD_ERR;
    }
    if (rc != CMD_OK) {
        store_rollback(s);
        fprintf(stderr, "magicd: nothing imported\n");
    } else {
        printf("magicd: imported %d user%s (%d already present%s)\n", added, added == 1 ? "" : "s",
               present,
               present ? ", merged: the file's groups added, none removed, and \"disabled\": true "
                         "applied"
                       : "");
    }
out:
    store_close(s);
    json_decref(arr);
    return rc;
}

int cmd_user(const char *users_db, int argc, char **argv)
{
    const char *sub;

    if (argc > 0 && strcmp(argv[0], "user") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1)
        return cmd_usage();
    if (!users_db || !*users_db) {
        fprintf(stderr, "magicd: no user store configured (users_db)\n");
        return CMD_ERR;
    }
    sub = argv[0];
    if (strcmp(sub, "add") == 0)
        return cmd_add(users_db, argc, argv);
    if (strcmp(sub, "remove") == 0 || strcmp(sub, "rm") == 0)
        return cmd_remove(users_db, argc, argv);
    if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0)
        return cmd_disable(users_db, argc, argv, strcmp(sub, "disable") == 0);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
        return cmd_list(users_db, argc);
    if (strcmp(sub, "import") == 0)
        return cmd_import(users_db, argc, argv);
    if (strcmp(sub, "export") == 0)
        return cmd_export(users_db, argc, argv);
    if (strcmp(sub, "help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        cmd_usage();
        return CMD_OK;
    }
    fprintf(stderr, "magicd: unknown user command \"%s\"\n", sub);
    return cmd_usage();
}

int cmd_keygen(const char *path)
{
    char err[1024];

    if (!path || !*path) {
        fprintf(stderr, "magicd: no key file path (give one, or set key_file)\n"
                        "usage: magicd [-c FILE] keygen [PATH]\n");
        return CMD_USAGE;
    }
    if (keyfile_generate(path, err, sizeof(err)) < 0) {
        fprintf(stderr, "magicd: %s\n", err);
        return CMD_ERR;
    }
    printf("magicd: created key file %s (mode 0600)\n", path);
    return CMD_OK;
}
