/*
 * smtp.h - an SMTP client for the mailer process, and the message it sends.
 *
 * The client is blocking, with every read and write bounded by a timeout,
 * which is fine because only the mailer process uses it (a worker never
 * talks to a relay). One session may carry several messages.
 *
 * The pure helpers (message formatting, dot-stuffing, reply parsing) are
 * exposed for the unit tests.
 */
#ifndef MG_SMTP_H
#define MG_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "app/mail.h"
#include "core/spool.h"

enum { SMTP_TLS_OFF = 0, SMTP_TLS_OPPORTUNISTIC = 1, SMTP_TLS_REQUIRED = 2 };

/* Outcome of a delivery attempt. */
enum {
    SMTP_OK = 0,
    SMTP_TEMPFAIL = 1, /* 4xx, network, timeout: try again later */
    SMTP_PERMFAIL = 2  /* 5xx for this message: give up on it */
};

typedef struct {
    const char *host;
    const char *port;
    const char *helo; /* our name in EHLO; NULL: "localhost" */
    int starttls;     /* SMTP_TLS_* */
    const char *user; /* NULL or "": no AUTH */
    const char *password;
    int timeout_ms; /* per command */
} smtp_relay_t;

typedef struct smtp_session smtp_session_t;

/* Connect, read the greeting, EHLO, STARTTLS (and EHLO again), AUTH.
 * NULL with err set on failure (always a temporary failure). */
smtp_session_t *smtp_open(const smtp_relay_t *r, char *err, size_t errsz);
/* MAIL FROM / RCPT TO / DATA with the message (LF or CRLF line ends; it is
 * dot-stuffed here). SMTP_OK only after the relay's 250 to the final dot.
 * After SMTP_TEMPFAIL from a network error the session is dead (close it). */
int smtp_send(smtp_session_t *s, const char *from_addr, const char *to, const char *msg, size_t len,
              char *err, size_t errsz);
int smtp_session_ok(const smtp_session_t *s);
int smtp_session_tls(const smtp_session_t *s);
/* QUIT (best effort) and free. */
void smtp_close(smtp_session_t *s);

/* Build the mail for m from the templates in set (app/mail.h): From, To,
 * Subject, Date, Message-ID, MIME multipart/alternative with a text and an
 * HTML part, LF line ends. Returns its length, or -1 when out is too small
 * or the link too long. */
int smtp_format_message(const mail_set_t *set, const spool_msg_t *m, const char *from, char *out,
                        size_t outsz);

/* The addr-spec inside "Name <addr>" (or the whole string). 0 or -1. */
int smtp_addr_spec(const char *from, char *out, size_t outsz);

/* "<id@domain>" with the domain of the from address. */
int smtp_message_id(const char *id_hex, const char *from, char *out, size_t outsz);

/* RFC 5322 date: "Tue, 25 Nov 2026 16:40:01 +0000". */
int smtp_date(uint64_t unix_s, char *out, size_t outsz);

/* Copy in to out converting line ends to CRLF and doubling a '.' that starts
 * a line; ends with CRLF. Returns the output length or -1 if it would not
 * fit. Does not add the terminating ".\r\n". */
long smtp_dot_stuff(const char *in, size_t n, char *out, size_t outsz);
/* The same, doubling dots only with stuff (BDAT sends the octets as they
 * are). */
long smtp_wire(const char *in, size_t n, char *out, size_t outsz, int stuff);

/* Parse one reply line "250-text" / "250 text": *code, *more (1 when a
 * continuation follows). 0, or -1 when malformed. */
int smtp_parse_reply_line(const char *line, size_t n, int *code, int *more);

#endif
