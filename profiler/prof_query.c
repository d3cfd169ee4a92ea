/*
 * prof_query.c - query parameters of /debug/pprof (see prof_query.h).
 *
 * The values come from http_form_value, which percent-decodes into a small
 * buffer and says when a value does not fit; a value too long for the
 * buffer is malformed, never silently cut into a different number.
 */
#include "profiler/prof_query.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

int prof_query_int(const char *q, size_t n, const char *name)
{
    char v[32];
    if (http_form_value(q, n, name, v, sizeof v) != 1)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < INT_MIN || x > INT_MAX)
        return 0;
    return (int)x;
}

int prof_query_seconds(const char *q, size_t n, int64_t *out)
{
    char v[32];
    int r = http_form_value(q, n, "seconds", v, sizeof v);
    if (r == 0 || (r == 1 && v[0] == 0))
        return 0;
    if (r < 0)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x <= 0)
        return -1;
    *out = x;
    return 1;
}

/* n decimal digits at *p, advanced; -1 when they are not there. */
static long pq_digits(const char **p, int n)
{
    long x = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        x = x * 10 + (**p - '0');
    }
    return x;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * days_from_civil), so no time zone or locale is involved. */
static int64_t pq_days(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* ".fff..." (up to 9 digits kept) -> ns; p advanced past every digit. */
static int pq_frac(const char **p, uint64_t *ns)
{
    *ns = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    int k = 0;
    uint64_t scale = 100000000;
    while (**p >= '0' && **p <= '9') {
        if (k++ < 9) {
            *ns += (uint64_t)(**p - '0') * scale;
            scale /= 10;
        }
        (*p)++;
    }
    return k ? 0 : -1;
}

static int pq_rfc3339(const char *v, uint64_t *out)
{
    const char *p = v;
    long y = pq_digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return -1;
    long mo = pq_digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return -1;
    long d = pq_digits(&p, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d < 1 || d > mdays[mo - 1] || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    long hh = pq_digits(&p, 2);
    if (hh < 0 || hh > 23 || *p++ != ':')
        return -1;
    long mi = pq_digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return -1;
    long ss = pq_digits(&p, 2);
    if (ss < 0 || ss > 59)
        return -1;
    uint64_t frac;
    if (pq_frac(&p, &frac) < 0)
        return -1;
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        long oh = pq_digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':')
            return -1;
        long om = pq_digits(&p, 2);
        if (om < 0 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t t = pq_days(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mi * 60 + ss - off;
    if (t < 0)
        return -1;
    *out = (uint64_t)t * 1000000000ull + frac;
    return 0;
}

int prof_parse_time(const char *v, uint64_t *out)
{
    if (strchr(v, '-') || strchr(v, 'T') || strchr(v, ':'))
        return pq_rfc3339(v, out) == 0 ? 1 : -1;
    /* unix seconds, optionally with a fraction */
    const char *p = v;
    uint64_t sec = 0;
    int k = 0;
    while (*p >= '0' && *p <= '9') {
        if (++k > 11) /* past the year 5000: not a time anyone means */
            return -1;
        sec = sec * 10 + (uint64_t)(*p++ - '0');
    }
    uint64_t frac;
    if (!k || pq_frac(&p, &frac) < 0 || *p)
        return -1;
    *out = sec * 1000000000ull + frac;
    return 1;
}

int prof_parse_duration(const char *v, uint64_t *out)
{
    static const struct {
        const char *u;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    const char *p = v;
    double total = 0;
    if (*p == '+')
        p++;
    if (!*p)
        return -1;
    while (*p) {
        /* digits [. digits], as Go reads them (no exponent, no hex) */
        double x = 0, scale = 1;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            x = x * 10 + (*p++ - '0');
            nd++;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                scale /= 10;
                x += (*p++ - '0') * scale;
                nd++;
            }
        }
        if (!nd)
            return -1;
        size_t best = 0;
        double mul = 0;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            size_t l = strlen(units[i].u);
            if (!strncmp(p, units[i].u, l) && l > best) {
                best = l;
                mul = units[i].ns;
            }
        }
        if (!best)
            return -1; /* Go: missing unit in duration */
        p += best;
        total += x * mul;
    }
    if (!(total >= 1) || total > 1e18)
        return -1;
    *out = (uint64_t)total;
    return 1;
}

/* A query value parsed by parse: 0 absent or empty, else what parse says. */
static int prof_query_value(const char *q, size_t n, const char *name, uint64_t *out,
                            int (*parse)(const char *v, uint64_t *out))
{
    char v[64];
    int r = http_form_value(q, n, name, v, sizeof v);
    if (r == 0 || (r == 1 && v[0] == 0))
        return 0;
    if (r < 0)
        return -1;
    return parse(v, out);
}

int prof_query_time(const char *q, size_t n, const char *name, uint64_t *out)
{
    return prof_query_value(q, n, name, out, prof_parse_time);
}

int prof_query_duration(const char *q, size_t n, const char *name, uint64_t *out)
{
    return prof_query_value(q, n, name, out, prof_parse_duration);
}
