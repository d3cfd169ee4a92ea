/*
 * email.c - email address normalisation and validation (see email.h).
 *
 * Deliberately narrower than RFC 5322: a login server needs addresses that
 * real users type and real mail systems deliver, and it must be able to put
 * them in HTML, JSON, log lines and SMTP commands without quoting surprises.
 * So the accepted form is
 *
 *     local@domain
 *     local  = dot-atom of ASCII atext (letters, digits, ! # $ % & ' * + / =
 *              ? ^ _ ` { | } ~ -), no leading/trailing/double dots, <= 64
 *     domain = hostname labels [a-z0-9-] (not starting or ending with '-'),
 *              each 1..63, at least two labels, no trailing dot
 *     total  <= 254 bytes
 *
 * Quoted local parts, comments, IP-literal domains and non-ASCII addresses
 * (SMTPUTF8/IDN) are refused: they are vanishingly rare for logins and each
 * is an injection or confusion vector. Case is folded for the whole address
 * (mailbox local parts are case-insensitive in practice, and one spelling per
 * mailbox is what keeps the rate limiter and the user store honest).
 */
#include "app/email.h"

#include <string.h>

static int email_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int email_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

static int email_local_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!email_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int email_domain_ok(const char *s, size_t n)
{
    size_t label = 0;
    int labels = 0;

    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return 0;
            labels++;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            label++;
        } else {
            return 0;
        }
    }
    return labels >= 2;
}

int email_normalize(const char *in, size_t n, char *out, size_t outsz)
{
    const char *at = NULL;
    size_t len;

    if (!in || !out || outsz == 0)
        return -1;
    while (n > 0 && email_space((unsigned char)in[0])) {
        in++;
        n--;
    }
    while (n > 0 && email_space((unsigned char)in[n - 1]))
        n--;
    if (n == 0 || n > EMAIL_MAX || n + 1 > outsz)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f)
            return -1;
        if (c == '@') {
            if (at)
                return -1;
            at = out + i;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[n] = '\0';
    len = n;
    if (!at || !email_local_ok(out, (size_t)(at - out)) ||
        !email_domain_ok(at + 1, len - (size_t)(at - out) - 1)) {
        out[0] = '\0';
        return -1;
    }
    return (int)len;
}
