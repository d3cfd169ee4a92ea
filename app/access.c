/*
 * access.c - who may sign in (see access.h).
 *
 * Domains compare whole and exactly: "example.com" admits x@example.com,
 * not x@sub.example.com nor x@example.com.evil.com. Addresses reach here
 * normalised (email_normalize lower-cases them) and the configured domains
 * are lower-cased by the config parser, so a byte compare is enough.
 */
#include "app/access.h"

#include <stdio.h>
#include <string.h>

int access_domain_ok(const conf_auth_t *c, const char *email)
{
    if (c->nallow_email_domains == 0)
        return 1;
    const char *at = strrchr(email, '@');
    if (!at)
        return 0;
    for (int i = 0; i < c->nallow_email_domains; i++)
        if (!strcmp(at + 1, c->allow_email_domains[i]))
            return 1;
    return 0;
}

int access_may_join(const conf_auth_t *c, const char *email)
{
    if (c->nallow_email_domains)
        return access_domain_ok(c, email);
    return c->signup;
}

void access_refusal(const conf_auth_t *c, char *out, size_t outsz)
{
    size_t o = 0;
    int n = c->nallow_email_domains;
    o += (size_t)snprintf(out, outsz, "Sign-in here is open to addresses at ");
    for (int i = 0; i < n && o < outsz; i++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", c->allow_email_domains[i],
                              i == n - 1   ? ""
                              : i == n - 2 ? " and "
                                           : ", ");
    if (o < outsz)
        snprintf(out + o, outsz - o, " only. Sign in with your address there.");
}
