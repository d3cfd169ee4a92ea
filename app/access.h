/*
 * access.h - who may sign in.
 *
 * Three sources, from the configuration and the user store:
 *   - the user store: a listed user may sign in (the default, signup off);
 *   - `signup on`: anyone may, and gets an account at the first link;
 *   - `allow_email_domain D;` (repeatable): anyone at one of these domains
 *     may, and gets an account at the first link; when the list is set it
 *     is also the only way in: an address at any other domain is refused,
 *     listed user or not.
 * The refusal of the last rule depends on the configuration alone, never on
 * the store, so the clear "not allowed" page it earns tells nothing about
 * who has an account. An unknown address under the first rule gets the
 * same "link sent" page as a known one and no link (no enumeration).
 */
#ifndef MG_ACCESS_H
#define MG_ACCESS_H

#include <stddef.h>

#include "core/conf.h"

/* 1 when the address's domain is allowed (always, without a domain list),
 * 0 when the domain list refuses it. email is normalised (lower case). */
int access_domain_ok(const conf_auth_t *c, const char *email);

/* May an address the store does not know get an account at its first
 * link? (signup on, or its domain is listed.) */
int access_may_join(const conf_auth_t *c, const char *email);

/* The refusal's message: "Sign-in here is open to addresses at a, b and c
 * only." into out. */
void access_refusal(const conf_auth_t *c, char *out, size_t outsz);

#endif
