/*
 * log.h - the error log.
 *
 * One process-wide error log (a file or stderr) with nginx's levels. Lines
 * look like nginx's: "2026/11/25 16:40:01 [error] 1234#0: message". Writes are
 * single write(2) calls of a whole line, so lines from the master and every
 * worker interleave cleanly in one O_APPEND file. log_reopen() is what USR1
 * does; it is safe to call any time from the event loop.
 */
#ifndef MG_LOG_H
#define MG_LOG_H

/* Mode of log files magicd creates (error and access log): owner and group
 * only. The access log holds request lines with tokens in them, and with
 * `delivery log` the error log holds every link; 0640 lets an `adm`-style
 * group read them, as logrotate's `create 0640` does. */
#define LOG_FILE_MODE 0640

enum {
    MG_LOG_EMERG,
    MG_LOG_ALERT,
    MG_LOG_CRIT,
    MG_LOG_ERR,
    MG_LOG_WARN,
    MG_LOG_NOTICE,
    MG_LOG_INFO,
    MG_LOG_DEBUG
};

/* path NULL or "stderr" logs to stderr. Returns 0, or -1 with errno. */
int log_open(const char *path, int level);
int log_reopen(void);
void log_set_level(int level);
int log_level(void);
/* Parse "debug".."emerg"; -1 when unknown. */
int log_level_parse(const char *name);
int log_fd(void);
/* For a command rather than the server: lines to stderr start with
 * "NAME: [level] " instead of a time and a pid. NULL: the server's form. */
void log_set_cli(const char *name);

/* err: an errno value to append as ": strerror (err)", or 0. */
void log_error(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_emerg(...) log_error(MG_LOG_EMERG, 0, __VA_ARGS__)
#define log_alert(...) log_error(MG_LOG_ALERT, 0, __VA_ARGS__)
#define log_crit(...) log_error(MG_LOG_CRIT, 0, __VA_ARGS__)
#define log_err(...) log_error(MG_LOG_ERR, 0, __VA_ARGS__)
#define log_warn(...) log_error(MG_LOG_WARN, 0, __VA_ARGS__)
#define log_notice(...) log_error(MG_LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_error(MG_LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_level() >= MG_LOG_DEBUG)                                                           \
            log_error(MG_LOG_DEBUG, 0, __VA_ARGS__);                                               \
    } while (0)

#endif
