/*
 * main.c - the magicd command line.
 *
 *   magicd [-c FILE] [-p PREFIX] [-g DIRS]    run (master in the foreground)
 *   magicd [-c FILE] -t | -T                  test the config (-T: and print it)
 *   magicd [-c FILE] -s reload|quit|stop|reopen   signal the running master
 *   magicd [-c FILE] keygen [PATH]            create the key file (never overwrites;
 *                                             with PATH, no config is read)
 *   magicd [-c FILE] user add|remove|disable|enable|list|import|export ...
 *   magicd [-c FILE] session list EMAIL | revoke ID | revoke-all EMAIL
 *   magicd [-c FILE] health [URL]             exit 0 if /healthz answers 200 within 3 s
 *   magicd [-c FILE] mail preview [--lang TAG] [--html|--text]   the sign-in mail
 *   magicd version | -v                       version and build
 *   magicd -h                                 this help
 *
 * Options come before the command, as with nginx. Everything the master
 * does once running is in master.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/check.h"
#include "app/store_pg.h"
#include "core/conf.h"
#include "core/conf_check.h"
#include "core/keyfile.h"
#include "core/log.h"
#include "core/proctitle.h"
#include "cmd/cmd_health.h"
#include "cmd/cmd_mail.h"
#include "cmd/cmd_session.h"
#include "cmd/cmd_store.h"
#include "cmd/cmd_user.h"
#include "master/master.h"
#include "master/pidfile.h"
#include "master/privileges.h"
#include "sampler/sampler.h"
#include "core/version.h"

#ifndef MAGICD_DEFAULT_CONF
#define MAGICD_DEFAULT_CONF "/etc/magicd/magicd.conf"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "magicd %s - passwordless (magic-link) login server\n"
            "\n"
            "Usage: magicd [-c FILE] [-p PREFIX] [-t | -T | -s SIGNAL | COMMAND ...]\n"
            "\n"
            "Options:\n"
            "  -c FILE      configuration file (default %s)\n"
            "  -p PREFIX    directory relative paths in the config resolve against\n"
            "               (default: the config file's directory)\n"
            "  -g DIRECTIVES  directives applied after the file (e.g. \"error_log stderr;\")\n"
            "  -t           test the configuration and exit\n"
            "  -T           test the configuration, print the effective one, and exit\n"
            "  -s SIGNAL    send SIGNAL to the running master: reload, quit, stop, reopen\n"
            "  -h, --help   this help\n"
            "  -v, version  print the version\n"
            "\n"
            "Commands:\n"
            "  keygen [PATH]             create the key file (mode 0600; never overwrites;\n"
            "                            PATH: no config needed, else key_file)\n"
            "  user add EMAIL [--group G]...  add a user (in groups G)\n"
            "  user remove EMAIL         remove one      user disable|enable EMAIL\n"
            "  user list                 list users      user import FILE|-  JSON import\n"
            "  user export [FILE|-]      JSON export\n"
            "  session list EMAIL        a user's sessions\n"
            "  session revoke ID         end one         session revoke-all EMAIL  end all\n"
            "  store migrate             create or upgrade the user store's schema\n"
            "  health [URL]              exit 0 when /healthz answers 200 within 3 s\n"
            "  mail preview [--lang TAG] [--html|--text]\n"
            "                            render the sign-in mail (html/mail/) to stdout\n"
            "\n"
            "Signals to the master: HUP reload, QUIT graceful stop, TERM/INT fast stop,\n"
            "USR1 reopen logs, USR2 binary upgrade, WINCH stop workers (after USR2).\n",
            MAGICD_VERSION, MAGICD_DEFAULT_CONF);
}

/* -g "directives;": applied after the file, like nginx's -g. */
static const char *global_directives;
/* Several -g options add up (the container's entrypoint passes one of its
 * own before the user's), in order. */
static char global_buf[1024];
/* -c was given: a missing file is the user's typo, not a missing install. */
static int file_named;

static int load_conf(conf_t *c, const char *file, const char *prefix)
{
    char err[1024];
    conf_defaults(c);
    if (prefix)
        snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    if (global_directives)
        snprintf(c->cmdline, sizeof c->cmdline, "%s", global_directives);
    if (conf_load(c, file, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        if (!file_named && access(file, F_OK) < 0)
            fprintf(stderr, "magicd: no configuration at the default place; name one with -c FILE "
                            "(in a source tree: build/magicd -c conf/magicd.conf)\n");
        return -1;
    }
    return 0;
}

/* The heap a worker inherits from the master is profiled as such: the
 * master samples its own allocations from before it reads its
 * configuration, at the rate that configuration names - read once here,
 * quietly, to learn it (the real read follows, and reports any error). */
static void master_heap_start(const char *file, const char *prefix)
{
    char err[256];
    conf_t *c = malloc(sizeof *c);
    if (!c)
        return;
    conf_defaults(c);
    if (prefix)
        snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    if (global_directives)
        snprintf(c->cmdline, sizeof c->cmdline, "%s", global_directives);
    if (conf_load(c, file, err, sizeof err) == 0)
        prof_master_init(c);
    free(c);
}

/* What the master opens at start before any child runs: its error log,
 * its pid file, and the user store (master/preflight.c), each checked without touching
 * it (app_check_writable): -t run by root must not leave a file the
 * service's user cannot open, nor create or migrate a store. A PostgreSQL
 * store may be down at start (workers answer 503 until it is back), so it
 * is not asked. */
static int test_state(const conf_t *c, char *err, size_t errsz)
{
    const char *log = c->log.error_log;
    if (log[0] && strcmp(log, "stderr") && app_check_writable(log, "error log", err, errsz) < 0)
        return -1;
    if (c->proc.pid_file[0] && app_check_writable(c->proc.pid_file, "pid file", err, errsz) < 0)
        return -1;
    if (store_pg_is_url(c->auth.users_db))
        return 0;
    return app_check_writable(c->auth.users_db, "user store", err, errsz);
}

static int cmd_test(const char *file, const char *prefix, int dump)
{
    log_set_cli("magicd");
    conf_t *c = malloc(sizeof *c);
    if (!c)
        return 1;
    if (load_conf(c, file, prefix) < 0) {
        fprintf(stderr, "magicd: configuration file %s test failed\n", file);
        free(c);
        return 1;
    }
    keyring_t kr;
    char err[1024];
    if (conf_check(c, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        fprintf(stderr, "magicd: configuration file %s test failed\n", file);
        free(c);
        return 1;
    }
    if (keyring_load(&kr, c->auth.key_file, c->auth.previous_key_file, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        fprintf(stderr, "magicd: configuration file %s test failed\n", file);
        free(c);
        return 1;
    }
    keyring_wipe(&kr);
    if (test_state(c, err, sizeof err) < 0 || priv_check_state(c, err, sizeof err) < 0 ||
        app_check_files(c, 0, err, sizeof err) < 0) {
        fprintf(stderr, "magicd: [emerg] %s\n", err);
        fprintf(stderr, "magicd: configuration file %s test failed\n", file);
        free(c);
        return 1;
    }
    /* -t cannot know who will start the server (the systemd unit starts
     * it as User=), so it says what happens when that is root, as now. */
    if (priv_root_warning(c, err, sizeof err))
        fprintf(stderr,
                "magicd: [warn] no `user` line in %s: a server started as root, as this -t "
                "was, keeps root in every child (workers, mailer, profiler); add `user "
                "magicd;`, or start it as that user (the systemd unit's User=, for which this "
                "does not apply)\n",
                file);
    fprintf(stderr, "magicd: the configuration file %s syntax is ok\n", file);
    fprintf(stderr, "magicd: configuration file %s test is successful\n", file);
    if (dump)
        conf_dump(c, 1);
    free(c);
    return 0;
}

/* Whether pid is a magicd master (its title, see proctitle.c): a pid file
 * left behind may name a pid the system has given to another program. When
 * /proc cannot tell, trust the pid file as nginx does. */
static int is_master(pid_t pid)
{
    char path[64], title[256];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(title, 1, sizeof title - 1, f);
    fclose(f);
    title[n] = 0;
    return n == 0 || strstr(title, "master process") != NULL;
}

static int cmd_signal(const char *file, const char *prefix, const char *name)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"reload", SIGHUP}, {"quit", SIGQUIT}, {"stop", SIGTERM}, {"reopen", SIGUSR1}};
    static const char *const signame[] = {"HUP", "QUIT", "TERM", "USR1"};
    int sig = 0;
    size_t si = 0;
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (!strcmp(name, sigs[i].name)) {
            sig = sigs[i].sig;
            si = i;
        }
    if (!sig) {
        fprintf(stderr, "magicd: invalid option: \"-s %s\" (reload, quit, stop, reopen)\n", name);
        return 2;
    }
    log_set_cli("magicd");
    conf_t *c = malloc(sizeof *c);
    if (!c || load_conf(c, file, prefix) < 0) {
        /* The pid file is named in the file that did not load: nothing
         * was signalled, which the parse error alone did not say. */
        if (c)
            fprintf(stderr,
                    "magicd: no signal sent: the pid file is named in %s, which does not load; "
                    "fix it (magicd -c %s -t), or signal the master yourself: kill -%s "
                    "<pid of \"magicd: master process\">\n",
                    file, file, signame[si]);
        free(c);
        return 1;
    }
    pid_t pid = pidfile_read(c->proc.pid_file);
    if (pid <= 0) {
        if (access(c->proc.pid_file, F_OK) < 0)
            fprintf(stderr, "magicd: [error] magicd is not running (no pid file \"%s\")\n",
                    c->proc.pid_file);
        else
            fprintf(stderr, "magicd: [error] invalid pid file \"%s\"\n", c->proc.pid_file);
        free(c);
        return 1;
    }
    int alive = kill(pid, 0) == 0 || errno != ESRCH;
    if (!alive || !is_master(pid)) {
        fprintf(stderr,
                "magicd: [error] magicd is not running (pid %d from the pid file \"%s\" is %s: "
                "the file is left from a server that did not stop cleanly)\n",
                (int)pid, c->proc.pid_file, alive ? "another program" : "gone");
        free(c);
        return 1;
    }
    /* A reload the master will refuse is said so on the terminal: the
     * master only logs it. Said, not refused: a master started with -g
     * (the container's public_url) has directives this command lacks, and
     * may accept the file this check refuses. */
    char err[1024];
    if (sig == SIGHUP && conf_check(c, err, sizeof err) < 0)
        fprintf(stderr,
                "magicd: [warn] %s\nmagicd: the master will refuse this reload and keep its "
                "configuration, unless it was started with -g directives that settle this; "
                "\"reload failed\" in its error log says it did\n",
                err);
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "magicd: [error] kill(%d, %s) failed: %s\n", (int)pid, name,
                strerror(errno));
        free(c);
        return 1;
    }
    free(c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = getenv("MAGICD_CONF") ? getenv("MAGICD_CONF") : MAGICD_DEFAULT_CONF;
    const char *prefix = NULL, *sig = NULL;
    int test = 0, dump = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-c") || !strcmp(a, "-p") || !strcmp(a, "-s") || !strcmp(a, "-g")) &&
            i + 1 >= argc) {
            fprintf(stderr, "magicd: option \"%s\" requires an argument\n", a);
            return 2;
        }
        if (!strcmp(a, "-c")) {
            file = argv[++i];
            file_named = 1;
        } else if (!strcmp(a, "-p"))
            prefix = argv[++i];
        else if (!strcmp(a, "-s"))
            sig = argv[++i];
        else if (!strcmp(a, "-g")) {
            size_t used = strlen(global_buf), add = strlen(argv[++i]);
            if (used + add + 2 > sizeof global_buf) {
                fprintf(stderr, "magicd: -g directives too long\n");
                return 2;
            }
            snprintf(global_buf + used, sizeof global_buf - used, "%s%s", used ? " " : "", argv[i]);
            global_directives = global_buf;
        } else if (!strcmp(a, "-t"))
            test = 1;
        else if (!strcmp(a, "-T"))
            test = dump = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("magicd version %s\n", MAGICD_VERSION);
            return 0;
        } else {
            fprintf(stderr, "magicd: invalid option: \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (test)
        return cmd_test(file, prefix, dump);
    if (sig)
        return cmd_signal(file, prefix, sig);

    if (i < argc) {
        const char *cmd = argv[i];
        if (!strcmp(cmd, "version")) {
            printf("magicd version %s (built %s %s)\n", MAGICD_VERSION, __DATE__, __TIME__);
            return 0;
        }
        if (!strcmp(cmd, "help")) {
            usage(stdout);
            return 0;
        }
        /* keygen PATH names its file: no config to read. */
        if (!strcmp(cmd, "keygen") && i + 1 < argc)
            return cmd_keygen(argv[i + 1]);
        conf_t *c = malloc(sizeof *c);
        if (!c)
            return 1;
        int rc;
        if (!strcmp(cmd, "keygen") || !strcmp(cmd, "user") || !strcmp(cmd, "session") ||
            !strcmp(cmd, "store") || !strcmp(cmd, "health") || !strcmp(cmd, "mail")) {
            if (load_conf(c, file, prefix) < 0) {
                free(c);
                return 1;
            }
            if (!strcmp(cmd, "keygen"))
                rc = cmd_keygen(c->auth.key_file);
            else if (!strcmp(cmd, "user"))
                rc = cmd_user(c->auth.users_db, argc - i - 1, argv + i + 1);
            else if (!strcmp(cmd, "mail"))
                rc = cmd_mail(c, argc - i - 1, argv + i + 1);
            else if (!strcmp(cmd, "session"))
                rc = cmd_session(c->auth.users_db, argc - i - 1, argv + i + 1);
            else if (!strcmp(cmd, "store"))
                rc = cmd_store(c->auth.users_db, argc - i - 1, argv + i + 1);
            else
                rc = cmd_health(c, i + 1 < argc ? argv[i + 1] : NULL, 3000);
        } else {
            fprintf(stderr, "magicd: unknown command \"%s\" (see magicd -h)\n", cmd);
            rc = 2;
        }
        free(c);
        return rc;
    }

    master_heap_start(file, prefix);
    /* The title overwrites argv's memory; keep a copy for the upgrade. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    for (int k = 0; args && k < argc; k++)
        args[k] = strdup(argv[k]);
    if (!args)
        return 1;
    proctitle_init(argc, argv);
    conf_t *c = malloc(sizeof *c);
    if (!c || load_conf(c, file, prefix) < 0)
        return 1;
    int rc = master_run(c, argc, args);
    for (int k = 0; k < argc; k++)
        free(args[k]);
    free(args);
    return rc;
}
