/*
 * preflight.c - key loading, store and html_root checks in a child (see
 * preflight.h).
 *
 * Why a child: the first OpenSSL 3 call initialises its provider tables
 * and the first SQLite open its library state, touching about 5 MB of
 * library pages. Done in the master, those pages would stay resident in a
 * process that never needs them again. A short-lived child does the work
 * and hands back only the derived keys (a fixed-size struct, through a
 * pipe); workers get them from the master by fork, as before.
 */
#include "master/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/check.h"
#include "app/store.h"
#include "app/store_pg.h"

typedef struct {
    int ok;
    char err[512];
    keyring_t keys;
} preflight_msg_t;

static void child(const conf_t *c, int fd)
{
    preflight_msg_t msg;
    memset(&msg, 0, sizeof msg);
    if (keyring_load(&msg.keys, c->auth.key_file, c->auth.previous_key_file, msg.err,
                     sizeof msg.err) == 0) {
        /* A PostgreSQL store is not opened here: the server starts while
         * the database is down and serves 503s until it is back. */
        store_t *s = store_pg_is_url(c->auth.users_db)
                         ? NULL
                         : store_open(c->auth.users_db, 0, msg.err, sizeof msg.err);
        if (s || store_pg_is_url(c->auth.users_db)) {
            store_close(s);
            /* Templates and static files too: a worker needs every one. */
            msg.ok = app_check_files(c, 1, msg.err, sizeof msg.err) == 0;
        }
    }
    size_t off = 0;
    while (off < sizeof msg) {
        ssize_t n = write(fd, (char *)&msg + off, sizeof msg - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    keyring_wipe(&msg.keys);
    _exit(off == sizeof msg ? 0 : 1);
}

int preflight_run(const conf_t *c, keyring_t *keys, char *err, size_t errsz)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errsz, "pipe() failed: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsz, "fork() failed: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child(c, p[1]);
    }
    close(p[1]);
    preflight_msg_t msg;
    size_t off = 0;
    while (off < sizeof msg) {
        ssize_t n = read(p[0], (char *)&msg + off, sizeof msg - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = -1;
    if (off != sizeof msg)
        snprintf(err, errsz, "preflight check died (status %d)", status);
    else if (!msg.ok)
        snprintf(err, errsz, "%s", msg.err);
    else {
        *keys = msg.keys;
        rc = 0;
    }
    keyring_wipe(&msg.keys);
    return rc;
}
