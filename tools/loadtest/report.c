/*
 * report.c - what the load generator prints: a progress line each second on
 * stderr, the final report on stdout, and the same figures as JSON.
 *
 * The progress line's rate and p99 are for the last second alone (the
 * difference of two snapshots of the cumulative counters), so a server that
 * slows down shows it at once instead of being averaged away. The final
 * percentiles come from the merged histograms of all threads (see hist.c
 * for the error bound).
 */
#include "tools/loadtest/loadtest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

const char *const lt_err_names[ER_KINDS] = {"connect", "read", "write", "timeout", "status"};

void lt_stats_snapshot(lt_stats_t *dst, const lt_stats_t *src)
{
    dst->requests += LD(&src->requests);
    dst->bytes += LD(&src->bytes);
    dst->open += LD(&src->open);
    dst->sent += LD(&src->sent);
    for (int i = 0; i < ER_KINDS; i++)
        dst->err[i] += LD(&src->err[i]);
    for (int i = 0; i < FL_KINDS; i++)
        dst->flow[i] += LD(&src->flow[i]);
    for (int i = 0; i < RQ_KINDS; i++)
        dst->kind[i] += LD(&src->kind[i]);
    for (int i = 0; i < LT_STATUS_MAX; i++)
        dst->status[i] += LD(&src->status[i]);
    lt_hist_merge(&dst->hist, &src->hist);
}

static uint64_t errors_total(const lt_stats_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i < ER_KINDS; i++)
        n += s->err[i];
    return n;
}

static uint64_t flow_total(const lt_stats_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i < FL_KINDS; i++)
        n += s->flow[i];
    return n;
}

/* ns -> "812us", "12.34ms", "1.20s" */
static const char *fmt_ns(uint64_t ns, char *b, size_t cap)
{
    if (ns < 1000000)
        snprintf(b, cap, "%.0fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(b, cap, "%.2fms", (double)ns / 1e6);
    else
        snprintf(b, cap, "%.2fs", (double)ns / 1e9);
    return b;
}

void lt_progress(const lt_opts_t *o, double elapsed, const lt_stats_t *now, const lt_stats_t *prev,
                 double dt)
{
    (void)o;
    static lt_hist_t d;
    char b[32];
    lt_hist_diff(&d, &now->hist, &prev->hist);
    double rps = dt > 0 ? (double)(now->requests - prev->requests) / dt : 0;
    fprintf(stderr, "%6.1fs  %9.0f req/s  p99 %-9s  errors %llu  open %llu\n", elapsed, rps,
            d.count ? fmt_ns(lt_hist_quantile(&d, 0.99), b, sizeof(b)) : "-",
            (unsigned long long)(errors_total(now) + flow_total(now)),
            (unsigned long long)now->open);
}

static const double qs[] = {0.50, 0.90, 0.99, 0.999};
static const char *const qnames[] = {"p50", "p90", "p99", "p99.9"};
static const char *const qkeys[] = {"p50", "p90", "p99", "p99_9"};

void lt_report(FILE *f, const lt_opts_t *o, const lt_stats_t *s, double secs)
{
    char b[32];
    fprintf(f, "loadtest: %s %s  %d connections, %d threads, %.1fs, ", o->scenario_name, o->url,
            o->connections, o->threads, o->duration);
    if (o->rate > 0)
        fprintf(f, "open loop at %.0f req/s%s\n", o->rate, o->poisson ? " (Poisson arrivals)" : "");
    else
        fprintf(f, "closed loop\n");
    fprintf(f, "  requests     %llu in %.2fs\n", (unsigned long long)s->requests, secs);
    for (int i = 0; i < RQ_KINDS; i++)
        if (s->kind[i] && s->kind[i] != s->requests)
            fprintf(f, "    %-32s %llu\n", lt_req_names[i], (unsigned long long)s->kind[i]);
    fprintf(f, "  requests/s   %.1f", secs > 0 ? (double)s->requests / secs : 0);
    if (o->rate > 0)
        fprintf(f, "  (target %.1f, %.2f%%)", o->rate,
                secs > 0 ? 100.0 * (double)s->requests / secs / o->rate : 0);
    fprintf(f, "\n  bytes        %llu (%.2f MB/s)\n", (unsigned long long)s->bytes,
            secs > 0 ? (double)s->bytes / secs / 1e6 : 0);
    fprintf(f, "  latency     ");
    for (int i = 0; i < 4; i++)
        fprintf(f, " %s %s ", qnames[i], fmt_ns(lt_hist_quantile(&s->hist, qs[i]), b, sizeof(b)));
    fprintf(f, " max %s", fmt_ns(s->hist.count ? s->hist.max : 0, b, sizeof(b)));
    fprintf(f, "  mean %s\n", fmt_ns((uint64_t)lt_hist_mean(&s->hist), b, sizeof(b)));
    fprintf(f, "  status      ");
    int any = 0;
    for (int i = 0; i < LT_STATUS_MAX; i++)
        if (s->status[i]) {
            fprintf(f, " %d: %llu ", i, (unsigned long long)s->status[i]);
            any = 1;
        }
    fprintf(f, "%s\n", any ? "" : " none");
    if (s->err[ER_STATUS]) {
        /* The failing statuses, on their own line: a run whose answers were
         * refusals must not read like a clean one. */
        fprintf(f, "  failures     %llu of %llu answers not %s (",
                (unsigned long long)s->err[ER_STATUS], (unsigned long long)s->requests,
                lt_scenario_ok_statuses(o));
        int first = 1;
        for (int i = 0; i < LT_STATUS_MAX; i++)
            if (s->status[i] && !lt_scenario_status_ok(o, i)) {
                fprintf(f, "%s%d: %llu", first ? "" : ", ", i, (unsigned long long)s->status[i]);
                first = 0;
            }
        fprintf(f, ")\n");
    }
    fprintf(f, "  errors       %llu  (", (unsigned long long)errors_total(s));
    for (int i = 0; i < ER_KINDS; i++)
        fprintf(f, "%s%s %llu", i ? ", " : "", lt_err_names[i], (unsigned long long)s->err[i]);
    fprintf(f, ")\n");
    if (flow_total(s)) {
        fprintf(f, "  flow errors  %llu  (", (unsigned long long)flow_total(s));
        for (int i = 0; i < FL_KINDS; i++)
            fprintf(f, "%s%s %llu", i ? ", " : "", lt_flow_names[i],
                    (unsigned long long)s->flow[i]);
        fprintf(f, ")\n");
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

int lt_report_json(const char *file, const lt_opts_t *o, const lt_stats_t *s, double secs,
                   const char *error)
{
    FILE *f = strcmp(file, "-") == 0 ? stdout : fopen(file, "w");
    if (!f) {
        fprintf(stderr, "loadtest: cannot write %s: %s\n", file, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"scenario\": ");
    json_str(f, o->scenario_name);
    fprintf(f, ",\n  \"url\": ");
    json_str(f, o->url);
    fprintf(f, ",\n  \"connections\": %d,\n  \"threads\": %d,\n", o->connections, o->threads);
    fprintf(f, "  \"mode\": \"%s\",\n", o->rate > 0 ? "open" : "closed");
    if (o->rate > 0)
        fprintf(f, "  \"target_rate\": %.3f,\n", o->rate);
    else
        fprintf(f, "  \"target_rate\": null,\n");
    fprintf(f, "  \"duration_s\": %.6f,\n", secs);
    fprintf(f, "  \"requests\": %llu,\n", (unsigned long long)s->requests);
    fprintf(f, "  \"requests_per_sec\": %.3f,\n", secs > 0 ? (double)s->requests / secs : 0);
    fprintf(f, "  \"bytes\": %llu,\n", (unsigned long long)s->bytes);
    fprintf(f, "  \"bytes_per_sec\": %.3f,\n", secs > 0 ? (double)s->bytes / secs : 0);
    fprintf(f, "  \"latency_us\": {\"min\": %.3f, \"mean\": %.3f",
            s->hist.count ? (double)s->hist.min / 1e3 : 0, lt_hist_mean(&s->hist) / 1e3);
    for (int i = 0; i < 4; i++)
        fprintf(f, ", \"%s\": %.3f", qkeys[i], (double)lt_hist_quantile(&s->hist, qs[i]) / 1e3);
    fprintf(f, ", \"max\": %.3f},\n", s->hist.count ? (double)s->hist.max / 1e3 : 0);
    fprintf(f, "  \"status\": {");
    int first = 1;
    for (int i = 0; i < LT_STATUS_MAX; i++)
        if (s->status[i]) {
            fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", i, (unsigned long long)s->status[i]);
            first = 0;
        }
    fprintf(f, "},\n  \"requests_by_kind\": {");
    first = 1;
    for (int i = 0; i < RQ_KINDS; i++)
        if (s->kind[i]) {
            fprintf(f, "%s", first ? "" : ", ");
            json_str(f, lt_req_names[i]);
            fprintf(f, ": %llu", (unsigned long long)s->kind[i]);
            first = 0;
        }
    fprintf(f, "},\n  \"errors\": {");
    for (int i = 0; i < ER_KINDS; i++)
        fprintf(f, "\"%s\": %llu, ", lt_err_names[i], (unsigned long long)s->err[i]);
    fprintf(f, "\"total\": %llu},\n", (unsigned long long)errors_total(s));
    fprintf(f, "  \"flow_errors\": {");
    for (int i = 0; i < FL_KINDS; i++)
        fprintf(f, "\"%s\": %llu, ", lt_flow_names[i], (unsigned long long)s->flow[i]);
    fprintf(f, "\"total\": %llu},\n", (unsigned long long)flow_total(s));
    fprintf(f, "  \"error\": ");
    if (error)
        json_str(f, error);
    else
        fprintf(f, "null");
    fprintf(f, "\n}\n");
    if (f != stdout && fclose(f) != 0) {
        fprintf(stderr, "loadtest: cannot write %s: %s\n", file, strerror(errno));
        return -1;
    }
    return 0;
}
