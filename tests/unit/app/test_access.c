/*
 * test_access.c - who may sign in (app/access.c) and the return-to glue
 * (app/return_to.c): domain rules, joining, the refusal text, the proxy's
 * original URL and the /login check.
 */
#include <string.h>

#include "app/access.h"
#include "app/return_to.h"
#include "core/conf.h"
#include "tests/unit/unit.h"

static conf_t c;

int main(void)
{
    char err[512], msg[1024], out[RETURN_URL_MAX + 1];

    conf_defaults(&c);
    CHECK(access_domain_ok(&c.auth, "a@anything.org"), "no list: every domain");
    CHECK(!access_may_join(&c.auth, "a@anything.org"), "signup off: nobody joins");
    c.auth.signup = 1;
    CHECK(access_may_join(&c.auth, "a@anything.org"), "signup on: anyone joins");

    conf_defaults(&c);
    CHECK(conf_load_string(&c, "t.conf",
                           "allow_email_domain example.com corp.example.org x.io;\n"
                           "allowed_return_urls https://*.example.com/*;\n",
                           err, sizeof err) == 0,
          "%s", err);
    CHECK(access_domain_ok(&c.auth, "a@example.com") && access_domain_ok(&c.auth, "b@x.io"));
    CHECK(!access_domain_ok(&c.auth, "a@sub.example.com"), "subdomains are not the domain");
    CHECK(!access_domain_ok(&c.auth, "a@example.com.evil.com"));
    CHECK(!access_domain_ok(&c.auth, "a@evilexample.com"));
    CHECK(!access_domain_ok(&c.auth, "no-at-sign"));
    CHECK(access_may_join(&c.auth, "a@example.com") && !access_may_join(&c.auth, "a@evil.com"),
          "a domain list admits its domains, signup or not");
    access_refusal(&c.auth, msg, sizeof msg);
    CHECK(!strcmp(msg, "Sign-in here is open to addresses at example.com, corp.example.org and "
                       "x.io only. Sign in with your address there."),
          "%s", msg);
    access_refusal(&c.auth, msg, 20); /* truncates, never overflows */
    CHECK(strlen(msg) == 19);

    CHECK(return_to_allowed(&c.auth, "https://a.example.com/x", 23, out) > 0 &&
          !strcmp(out, "https://a.example.com/x"));
    CHECK(return_to_allowed(&c.auth, "//evil.com/", 11, out) < 0 && out[0] == 0);
    CHECK(return_to_is_login("https://a.example.com/login?rd=x"));
    CHECK(return_to_is_login("/login"));
    CHECK(!return_to_is_login("https://a.example.com/login/x"));
    CHECK(!return_to_is_login("https://a.example.com/app?next=/login"));
    CHECK(!return_to_is_login("https://login"));
    return unit_done("access");
}
