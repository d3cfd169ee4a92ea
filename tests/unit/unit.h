/*
 * unit.h - the few lines every unit test shares.
 *
 * CHECK(cond) or CHECK(cond, "fmt", args...) records a failure with file,
 * line, the condition's text and an optional message, and carries on, so
 * one run reports every broken case. A test's main() ends with
 * `return unit_done("name");`, which prints a summary and gives the exit
 * status tests/run expects (0 pass, 1 fail).
 */
#ifndef MG_UNIT_H
#define MG_UNIT_H

#include <stdarg.h>
#include <stdio.h>

static int unit_failures;

static inline void unit_msg(const char *fmt, ...)
{
    if (fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s", __FILE__, __LINE__, #cond);                          \
            unit_msg("" __VA_ARGS__);                                                              \
        }                                                                                          \
    } while (0)

static inline int unit_done(const char *name)
{
    if (unit_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, unit_failures);
    else
        printf("%s: all checks passed\n", name);
    return unit_failures != 0;
}

#endif
