/*
 * email.h - the one place that decides what an email address is.
 *
 * Every address that enters the server (a form field, a JSON body, `magicd
 * user add`, an import file) goes through email_normalize before it is
 * looked up, rate limited, sealed in a token or written anywhere, so the
 * store, the limiter keys and the outbox all see one spelling per mailbox.
 */
#ifndef MG_EMAIL_H
#define MG_EMAIL_H

#include <stddef.h>

#define EMAIL_MAX 254 /* RFC 5321 forward-path limit */

/* Trim surrounding whitespace, lowercase, and validate a plain addr-spec
 * (dot-atom local part, hostname domain with at least one dot). Writes the
 * NUL-terminated result to out. Returns its length, or -1 when the address
 * is invalid or does not fit in outsz. */
int email_normalize(const char *in, size_t n, char *out, size_t outsz);

#endif
