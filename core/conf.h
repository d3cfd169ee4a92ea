/*
 * conf.h - the configuration: an nginx-style file parsed into conf_t.
 *
 * Syntax: `directive arg ...;`, `#` comments to end of line, single or double
 * quotes around arguments with spaces, `include FILE_OR_GLOB;` (relative to
 * the including file's directory). Every directive has a default, so an empty
 * file is a valid config. Errors name the place:
 *     unknown directive "x" in /etc/magicd/magicd.conf:12
 * The parsed config is one heap object; a reload parses a new one and only
 * swaps it in when it is valid, so a bad edit never takes a server down.
 */
#ifndef MG_CONF_H
#define MG_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/realip.h"
#include "core/return_url.h"

#define CONF_PATH_MAX 512
#define CONF_MAX_LISTEN 4
#define CONF_MAX_RETURN_URLS 16   /* allowed_return_urls patterns */
#define CONF_MAX_EMAIL_DOMAINS 32 /* allow_email_domain entries */
#define CONF_PATTERN_MAX 256
#define CONF_TOKEN_MIN 16 /* profiler bearer token, characters */
#define CONF_TOKEN_MAX 128

typedef enum { DELIVERY_LOG = 0, DELIVERY_OUTBOX, DELIVERY_SMTP, DELIVERY_RESPONSE } delivery_t;
typedef enum { ACCESS_LOG_COMBINED = 0, ACCESS_LOG_JSON } access_log_format_t;

/* cookie_secure auto: on exactly when public_url is https (conf_check). */
#define CONF_COOKIE_SECURE_AUTO 2

typedef struct {
    char host[256];
    char port[16];
} conf_addr_t;

/* One section per subsystem; each subsystem is handed its own. */
typedef struct {
    int worker_processes; /* resolved: `auto` = number of CPUs */
    int worker_processes_auto;
    int worker_connections;
    char user[64];
    char group[64];
    char pid_file[CONF_PATH_MAX];
    uint64_t shutdown_timeout_ms;
    int daemon; /* not used: magicd runs in the foreground, as under systemd */
} conf_proc_t;

typedef struct {
    char error_log[CONF_PATH_MAX];
    int error_log_level;
    char access_log[CONF_PATH_MAX]; /* "off" disables */
    access_log_format_t access_log_format;
    size_t access_log_buffer;
    uint64_t access_log_flush_ms;
} conf_log_t;

typedef struct {
    conf_addr_t listen[CONF_MAX_LISTEN];
    int nlisten;
    int listen_backlog;
    char html_root[CONF_PATH_MAX];
    size_t max_request_line;
    size_t max_header_size;
    int max_headers;
    size_t max_body_size;
    uint64_t header_timeout_ms;
    uint64_t body_timeout_ms;
    uint64_t body_deadline_ms;       /* whole body, from the end of the head */
    int max_connections_per_ip;      /* per worker; 0 = no cap */
    size_t worker_connection_memory; /* all connection buffers of a worker */
    uint64_t keepalive_timeout_ms;
    uint64_t send_timeout_ms;
    int keepalive_requests;
    char public_url[256]; /* base of links, e.g. https://login.example.com */
    realip_conf_t realip; /* real_ip_from, real_ip_header */
} conf_http_t;

typedef struct {
    char key_file[CONF_PATH_MAX];
    char previous_key_file[CONF_PATH_MAX];
    uint64_t link_ttl_ms;
    uint64_t session_ttl_ms;
    uint64_t session_idle_timeout_ms; /* 0: none */
    int cookie_secure;                /* 0, 1, or CONF_COOKIE_SECURE_AUTO until conf_check */
    char cookie_domain[256];          /* "" = host-only cookies */
    char users_db[CONF_PATH_MAX];
    int users_db_pool;            /* PostgreSQL: connections per worker */
    uint64_t users_db_timeout_ms; /* PostgreSQL: longest a query may take */
    int store_down_open;          /* auth_store_down open: 1, closed: 0 */
    int signup;
    /* who may sign in without an account; when set, nobody else may */
    char allow_email_domains[CONF_MAX_EMAIL_DOMAINS][256];
    int nallow_email_domains;
    /* return-to: globs a return URL must match, and where to go otherwise */
    char allowed_return_urls[CONF_MAX_RETURN_URLS][CONF_PATTERN_MAX];
    int nallowed_return_urls;
    char default_return_url[RETURN_URL_MAX + 1]; /* canonical (core/return_url.h) */
} conf_auth_t;

typedef struct {
    delivery_t delivery;
    char delivery_arg[CONF_PATH_MAX]; /* outbox file, or smtp host:port */
    char from[256];
    char auth_user[128];
    char auth_password[128];
    char spool[CONF_PATH_MAX];
    int starttls;    /* 1 when offered (default), 0 off, 2 required */
    int connections; /* mailer processes, each with one SMTP session */
} conf_smtp_t;

typedef struct { /* N requests per window */
    int email_n;
    uint64_t email_window_ms;
    int ip_n;
    uint64_t ip_window_ms;
    int entries;
    int ipv6_prefix;           /* per-IP limits count IPv6 clients per /N */
    int email_fold_tags;       /* user+tag@d counts as user@d */
    int store_on;              /* rate_limit_store redis://...: limits shared by every node */
    conf_addr_t store;         /* its host and port */
    uint64_t store_timeout_ms; /* past this, the local limiter decides */
} conf_rate_t;

typedef struct {
    int enabled;
    conf_addr_t listen;
    int listen_public; /* `profiler_listen ADDR public`: exposed on purpose */
    char auth_token_file[CONF_PATH_MAX];
    char auth_token[CONF_TOKEN_MAX + 1]; /* loaded by conf_check(); never printed */
    int hz;
    int continuous;
    int max_seconds;
    uint64_t history_ms;     /* profile_history: how far back (continuous) */
    size_t history_max_size; /* profile_history_max_size: its memory cap */
    size_t heap_sample_bytes;
    uint64_t block_profile_rate_ns; /* record blocking events >= this */
    int mutex_profile_fraction;     /* 1/N of contention events */
    char node_name[64];             /* the node label; "" = the host name */
} conf_prof_t;

typedef struct conf {
    char file[CONF_PATH_MAX];   /* the main file */
    char prefix[CONF_PATH_MAX]; /* relative paths resolve against it */
    char cmdline[1024];         /* -g directives, applied after the file */

    conf_proc_t proc;
    conf_log_t log;
    conf_http_t http;
    conf_auth_t auth;
    conf_smtp_t smtp;
    conf_rate_t rate;
    conf_prof_t prof;
} conf_t;

/* Defaults for everything (the values written in conf/magicd.conf). */
void conf_defaults(conf_t *c);

/* Parse FILE into c (which should hold defaults; c->prefix may be preset,
 * otherwise it becomes FILE's directory; c->cmdline, when set, is parsed
 * after the file, as nginx's -g). Relative paths are made absolute
 * against the prefix. Returns 0, or -1 with a message "... in FILE:LINE". */
int conf_load(conf_t *c, const char *file, char *err, size_t errsz);

/* Parse text as though it were the contents of `name` (for unit tests and
 * -c -). Includes resolve relative to the current directory. */
int conf_load_string(conf_t *c, const char *name, const char *text, char *err, size_t errsz);

/* Write the effective configuration (what -T prints). */
void conf_dump(const conf_t *c, int fd);

/* Helpers, exposed for unit tests: "30s", "15m", "500ms", "2h", "1d" -> ms;
 * "512k", "1m", "64" -> bytes. -1 when malformed. */
int64_t conf_parse_duration_ms(const char *s);
int64_t conf_parse_size(const char *s);
/* "host:port", "port", "[::1]:port", "*:port" */
int conf_parse_addr(const char *s, conf_addr_t *out);

#endif
