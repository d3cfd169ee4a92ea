/*
 * privileges.c - drop root in children (see privileges.h).
 *
 * As in nginx, the master keeps root (to bind ports, reopen root-owned logs
 * and fork), while every child that handles untrusted input gives it up
 * right after fork: supplementary groups, then gid, then uid, in that order,
 * because after setuid() the others are no longer permitted.
 */
#include "master/privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/path.h"
#include "app/store_pg.h"

int priv_lookup(const conf_t *c, uid_t *uid, gid_t *gid, char *err, size_t errsz)
{
    struct passwd *pw = getpwnam(c->proc.user);
    if (!pw) {
        snprintf(err, errsz, "getpwnam(\"%s\") failed: no such user", c->proc.user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (c->proc.group[0]) {
        struct group *gr = getgrnam(c->proc.group);
        if (!gr) {
            snprintf(err, errsz, "getgrnam(\"%s\") failed: no such group", c->proc.group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

int priv_drop(const conf_t *c)
{
    if (geteuid() != 0 || !c->proc.user[0])
        return 0;
    uid_t uid;
    gid_t gid;
    char err[256];
    if (priv_lookup(c, &uid, &gid, err, sizeof err) < 0) {
        log_emerg("%s", err);
        return -1;
    }
    if (initgroups(c->proc.user, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        log_error(MG_LOG_EMERG, errno, "cannot switch to user \"%s\"", c->proc.user);
        return -1;
    }
    if (setuid(0) == 0) {
        log_emerg("privileges were not dropped: setuid(0) succeeded");
        return -1;
    }
    return 0;
}

static void chown_if_exists(const char *path, uid_t uid, gid_t gid)
{
    if (path[0] && chown(path, uid, gid) < 0 && errno != ENOENT)
        log_error(MG_LOG_WARN, errno, "chown(\"%s\") failed", path);
}

void priv_chown_state(const conf_t *c)
{
    if (geteuid() != 0 || !c->proc.user[0])
        return;
    uid_t uid;
    gid_t gid;
    char err[256], p[CONF_PATH_MAX + 8];
    if (priv_lookup(c, &uid, &gid, err, sizeof err) < 0)
        return;
    chown_if_exists(c->auth.users_db, uid, gid);
    snprintf(p, sizeof p, "%s-wal", c->auth.users_db);
    chown_if_exists(p, uid, gid);
    snprintf(p, sizeof p, "%s-shm", c->auth.users_db);
    chown_if_exists(p, uid, gid);
    chown_if_exists(c->log.error_log, uid, gid);
    if (strcmp(c->log.access_log, "off"))
        chown_if_exists(c->log.access_log, uid, gid);
    if (c->smtp.delivery == DELIVERY_OUTBOX)
        chown_if_exists(c->smtp.delivery_arg, uid, gid);
    if (c->smtp.delivery == DELIVERY_SMTP) {
        /* The spool and its folders (core/spool.h), which the master made
         * as root: the workers write into tmp/ and new/, the mailer reads
         * new/ and moves files to sent/ and failed/, all as `user`. */
        static const char *const sub[] = {"tmp", "new", "sent", "failed"};
        chown_if_exists(c->smtp.spool, uid, gid);
        for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
            snprintf(p, sizeof p, "%s/%s", c->smtp.spool, sub[i]);
            chown_if_exists(p, uid, gid);
        }
    }
}

int priv_check_state(const conf_t *c, char *err, size_t errsz)
{
    if (geteuid() != 0 || !c->proc.user[0] || store_pg_is_url(c->auth.users_db))
        return 0;
    char dir[CONF_PATH_MAX];
    if (path_dir(c->auth.users_db, dir, sizeof dir) < 0)
        return 0;
    /* Asked as the user itself, in a child that drops to it: groups, ACLs
     * and read-only mounts all count, as they will for the workers. */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsz, "fork() failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (priv_drop(c) < 0)
            _exit(255);
        _exit(access(dir, W_OK | X_OK) == 0 ? 0 : (errno & 0xff) ? errno & 0xff : 254);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    if (code == 0)
        return 0;
    snprintf(err, errsz,
             "user store directory \"%s\" is not writable by user \"%s\" (%s): the workers "
             "run as that user, and SQLite makes the store's -wal and -shm files beside it; "
             "give the directory to it (chown %s%s%s %s)",
             dir, c->proc.user,
             code == 255 || code == 254 ? "cannot switch to that user" : strerror(code),
             c->proc.user, c->proc.group[0] ? ":" : "", c->proc.group, dir);
    return -1;
}

int priv_root_warning(const conf_t *c, char *msg, size_t msgsz)
{
    if (geteuid() != 0 || c->proc.user[0])
        return 0;
    snprintf(msg, msgsz,
             "running as root without a `user` line in %s: the workers, which parse every "
             "request, the mailer and the profiler keep root; add `user magicd;` (a system "
             "user owning the state directories), or start magicd as that user (the systemd "
             "unit's User=)",
             c->file);
    return 1;
}

static void make_if_missing(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode);
    if (fd >= 0)
        close(fd);
    else
        log_error(MG_LOG_WARN, errno, "cannot make \"%s\" for the children to reopen", path);
}

void priv_reopen_files(const conf_t *c)
{
    if (geteuid() != 0 || !c->proc.user[0])
        return;
    if (c->log.access_log[0] && strcmp(c->log.access_log, "off") &&
        strcmp(c->log.access_log, "stderr"))
        make_if_missing(c->log.access_log, LOG_FILE_MODE);
    if (c->smtp.delivery == DELIVERY_OUTBOX)
        make_if_missing(c->smtp.delivery_arg, 0600);
    priv_chown_state(c);
}
