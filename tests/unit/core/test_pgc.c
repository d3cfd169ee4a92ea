/*
 * test_pgc.c - the asynchronous PostgreSQL pool against a real server.
 *
 * It needs a running PostgreSQL: tests/integration/test_pgc.py starts a
 * throwaway one and runs this binary with MAGICD_TEST_PG_URL set (without
 * it, as in `make unit`, it skips). Two modes:
 *
 *   test_pgc concurrency   20 queries of pg_sleep(0.3) on a pool of 4 end in
 *                          about 5 x 0.3 s, while a 10 ms timer in the same
 *                          loop keeps firing (the loop is never blocked);
 *                          a query past the timeout fails with an error
 *   test_pgc outage        prints READY, then sends SELECT 1 every 50 ms;
 *                          the driver stops the server, starts it again and
 *                          writes UP on stdin: while it is down queries must
 *                          fail (not hang), and one must succeed within 2 s
 *                          of UP; the loop must never stall
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/event.h"
#include "core/pgc.h"
#include "tests/unit/unit.h"

typedef struct {
    ev_loop_t *loop;
    pgc_t *pool;
    int stmt_sleep, stmt_one;
    ev_timer_t tick;
    uint64_t last_tick, max_gap;
    int ticks;
    int done, ok, failed;
    uint64_t max_latency;
    /* outage */
    ev_timer_t send;
    int inflight;
    uint64_t up_at, recovered_at, first_fail_at;
    int phase; /* 0 before READY ... */
    char last_err[256];
} t_t;

static void on_tick(ev_loop_t *loop, ev_timer_t *t)
{
    t_t *s = t->data;
    uint64_t now = clock_mono_ms();

    if (s->last_tick && now - s->last_tick > s->max_gap)
        s->max_gap = now - s->last_tick;
    s->last_tick = now;
    s->ticks++;
    ev_timer_set(loop, t, 10);
}

static void on_result(void *arg, const PGresult *res, const char *err)
{
    t_t *s = arg;

    s->done++;
    if (res)
        s->ok++;
    else {
        s->failed++;
        snprintf(s->last_err, sizeof s->last_err, "%s", err);
    }
}

static int wait_up(t_t *s, int want, int ms)
{
    uint64_t end = clock_mono_ms() + (uint64_t)ms;

    while (pgc_up(s->pool) < want && clock_mono_ms() < end) {
        ev_run_once(s->loop, 20);
        ev_update_time(s->loop);
    }
    return pgc_up(s->pool) >= want;
}

static int run_concurrency(t_t *s)
{
    const char *v[1] = {"0.3"};
    uint64_t t0, t1;

    CHECK(wait_up(s, 4, 5000), "pool not up: %s", pgc_error(s->pool));
    ev_timer_set(s->loop, &s->tick, 10);
    t0 = clock_mono_ms();
    s->last_tick = t0;
    for (int i = 0; i < 20; i++)
        CHECK(pgc_query(s->pool, s->stmt_sleep, 1, v, NULL, on_result, s) == 0);
    CHECK(pgc_queued(s->pool) == 16, "queued %d", pgc_queued(s->pool));
    while (s->done < 20 && clock_mono_ms() - t0 < 10000) {
        ev_run_once(s->loop, 50);
        ev_update_time(s->loop);
    }
    t1 = clock_mono_ms();
    printf("20 x pg_sleep(0.3) on 4 connections: %.2f s, %d ticks of 10 ms, longest gap %llu "
           "ms\n",
           (double)(t1 - t0) / 1000, s->ticks, (unsigned long long)s->max_gap);
    CHECK(s->ok == 20, "%d ok, %d failed (%s)", s->ok, s->failed, s->last_err);
    CHECK(t1 - t0 >= 1450 && t1 - t0 < 3000, /* serial: 6 s */ "took %llu ms",
          (unsigned long long)(t1 - t0));
    /* A loop waiting on a query would stall >= 300 ms; under a loaded CI
     * machine a runnable process can still wait ~100 ms for a CPU. */
    CHECK(s->max_gap < 250, "the loop stalled for %llu ms", (unsigned long long)s->max_gap);
    CHECK(s->ticks >= (int)((t1 - t0) / 10) / 2, "only %d ticks", s->ticks);

    /* Past the statement timeout (2 s here): an error, on time. */
    s->done = s->ok = s->failed = 0;
    v[0] = "5";
    t0 = clock_mono_ms();
    CHECK(pgc_query(s->pool, s->stmt_sleep, 1, v, NULL, on_result, s) == 0);
    while (s->done < 1 && clock_mono_ms() - t0 < 6000) {
        ev_run_once(s->loop, 50);
        ev_update_time(s->loop);
    }
    t1 = clock_mono_ms();
    CHECK(s->failed == 1 && strstr(s->last_err, "statement timeout"), "timeout query: %d, %s",
          s->failed, s->last_err);
    CHECK(t1 - t0 < 3000, "timeout after %llu ms", (unsigned long long)(t1 - t0));
    printf("pg_sleep(5) with a 2 s timeout: failed after %.2f s: %s\n", (double)(t1 - t0) / 1000,
           s->last_err);
    /* And the connection is still usable. */
    s->done = s->ok = 0;
    CHECK(pgc_query(s->pool, s->stmt_one, 0, NULL, NULL, on_result, s) == 0);
    while (s->done < 1 && clock_mono_ms() - t1 < 3000) {
        ev_run_once(s->loop, 50);
        ev_update_time(s->loop);
    }
    CHECK(s->ok == 1, "query after the timeout: %s", s->last_err);
    return 0;
}

static void on_outage_result(void *arg, const PGresult *res, const char *err)
{
    t_t *s = arg;
    uint64_t now = clock_mono_ms();

    s->inflight--;
    on_result(arg, res, err);
    if (!res && !s->first_fail_at && s->phase == 1)
        s->first_fail_at = now;
    if (res && s->up_at && !s->recovered_at)
        s->recovered_at = now;
}

static void on_send(ev_loop_t *loop, ev_timer_t *t)
{
    t_t *s = t->data;
    uint64_t now = clock_mono_ms();

    if (s->inflight < 8) {
        if (pgc_query(s->pool, s->stmt_one, 0, NULL, NULL, on_outage_result, s) == 0)
            s->inflight++;
        else {
            s->failed++; /* refused at once: every connection is down */
            if (!s->first_fail_at && s->phase == 1)
                s->first_fail_at = now;
        }
    }
    ev_timer_set(loop, t, 50);
}

static void on_stdin(ev_loop_t *loop, ev_io_t *io, uint32_t ev)
{
    t_t *s = io->data;
    char buf[64];
    ssize_t n = read(io->fd, buf, sizeof buf - 1);

    (void)loop;
    (void)ev;
    if (n <= 0) {
        s->phase = 3;
        return;
    }
    buf[n] = 0;
    if (strstr(buf, "UP")) {
        s->up_at = clock_mono_ms();
        s->phase = 2;
    }
}

static int run_outage(t_t *s)
{
    ev_io_t in = {.fd = 0, .cb = on_stdin, .data = s};
    uint64_t t0;

    CHECK(wait_up(s, 4, 5000), "pool not up: %s", pgc_error(s->pool));
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    ev_io_add(s->loop, &in, EPOLLIN);
    ev_timer_init(&s->send, on_send, s);
    ev_timer_set(s->loop, &s->send, 50);
    ev_timer_set(s->loop, &s->tick, 10);
    s->last_tick = clock_mono_ms();
    s->phase = 1;
    printf("READY\n");
    fflush(stdout);
    t0 = clock_mono_ms();
    while (clock_mono_ms() - t0 < 60000 && s->phase != 3 &&
           !(s->recovered_at && clock_mono_ms() - s->recovered_at > 500)) {
        ev_run_once(s->loop, 50);
        ev_update_time(s->loop);
    }
    printf("outage: %d ok, %d failed; first failure %lld ms after READY; recovered %lld ms "
           "after UP; longest loop gap %llu ms; last error: %s\n",
           s->ok, s->failed, s->first_fail_at ? (long long)(s->first_fail_at - t0) : -1LL,
           s->recovered_at ? (long long)(s->recovered_at - s->up_at) : -1LL,
           (unsigned long long)s->max_gap, s->last_err);
    CHECK(s->up_at, "never told the server was up again");
    CHECK(s->failed > 0, "no query failed while the server was down");
    CHECK(s->recovered_at && s->recovered_at - s->up_at <= 2000, "no recovery within 2 s");
    CHECK(s->max_gap < 250, "the loop stalled for %llu ms", (unsigned long long)s->max_gap);
    ev_io_del(s->loop, &in);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("MAGICD_TEST_PG_URL");
    t_t s;

    if (!url || !*url) {
        printf("skip: needs MAGICD_TEST_PG_URL (tests/integration/test_pgc.py runs it)\n");
        return 77;
    }
    memset(&s, 0, sizeof s);
    s.loop = ev_loop_new();
    s.pool = pgc_new(s.loop, url, 4, 2000);
    CHECK(s.pool != NULL);
    if (!s.pool)
        return unit_done("pgc");
    s.stmt_sleep = pgc_prepare(s.pool, "SELECT pg_sleep($1::float8)", 1);
    s.stmt_one = pgc_prepare(s.pool, "SELECT 1", 0);
    CHECK(s.stmt_sleep == 0 && s.stmt_one == 1);
    CHECK(pgc_query(s.pool, s.stmt_one, 0, NULL, NULL, on_result, &s) == -1,
          "a query before start was accepted");
    ev_timer_init(&s.tick, on_tick, &s);
    CHECK(pgc_start(s.pool) == 0);
    if (argc > 1 && !strcmp(argv[1], "outage"))
        run_outage(&s);
    else
        run_concurrency(&s);
    ev_timer_del(s.loop, &s.tick);
    pgc_free(s.pool);
    ev_loop_free(s.loop);
    return unit_done("pgc");
}
