/*
 * test_outbox_group - the lines queued in one loop iteration reach the
 * file in one write, in order, before any of their requests is answered;
 * a failed write fails every request of its group; a cancelled waiter is
 * written but not called; a line queued from a callback forms the next
 * group; what is left at free is still written.
 */
#include <stdio.h>
#include <string.h>

#include "app/outbox_group.h"
#include "../unit.h"

static char written[65536];
static size_t wlen;
static int writes, fail_next, answered_before_write;
static int done_rc[16], done_n;
static outbox_group_t *G;

static int put(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    writes++;
    if (fail_next) {
        fail_next = 0;
        return -1;
    }
    memcpy(written + wlen, buf, n);
    wlen += n;
    return 0;
}

static void done(void *arg, int rc)
{
    int i = (int)(long)arg;
    if (wlen == 0 && rc == 0)
        answered_before_write++;
    done_rc[i] = rc;
    done_n++;
}

static void done_requeue(void *arg, int rc)
{
    done(arg, rc);
    outbox_group_add(G, "again\n", 6, done, (void *)15L);
}

int main(void)
{
    ev_loop_t *l = ev_loop_new();
    CHECK(l != NULL);
    if (!l)
        return unit_done("test_outbox_group");
    G = outbox_group_new(l, put, NULL);
    CHECK(G != NULL);

    CHECK(outbox_group_add(G, "one\n", 4, done, (void *)1L) == 0);
    CHECK(outbox_group_add(G, "two\n", 4, done, (void *)2L) == 0);
    CHECK(outbox_group_add(G, "three\n", 6, done, (void *)3L) == 0);
    CHECK(writes == 0 && done_n == 0, "nothing happens before the iteration ends");
    ev_run_once(l, 0);
    CHECK(writes == 1, "%d writes for one group", writes);
    CHECK(wlen == 14 && memcmp(written, "one\ntwo\nthree\n", 14) == 0);
    CHECK(done_n == 3 && done_rc[1] == 0 && done_rc[2] == 0 && done_rc[3] == 0);
    CHECK(answered_before_write == 0);

    /* A failed write: every request of the group hears it. */
    done_n = 0;
    fail_next = 1;
    outbox_group_add(G, "four\n", 5, done, (void *)4L);
    outbox_group_add(G, "five\n", 5, done, (void *)5L);
    ev_run_once(l, 0);
    CHECK(done_n == 2 && done_rc[4] == -1 && done_rc[5] == -1);
    CHECK(wlen == 14, "a failed group left bytes");

    /* Cancelled: written, not called. */
    done_n = 0;
    outbox_group_add(G, "six\n", 4, done, (void *)6L);
    outbox_group_add(G, "seven\n", 6, done, (void *)7L);
    outbox_group_cancel(G, (void *)6L);
    ev_run_once(l, 0);
    CHECK(done_n == 1 && done_rc[7] == 0);
    CHECK(wlen == 24 && memcmp(written + 14, "six\nseven\n", 10) == 0);

    /* Queued from a callback: the next group, in the same turn of the
     * loop's deferred list. */
    done_n = 0;
    writes = 0;
    outbox_group_add(G, "eight\n", 6, done_requeue, (void *)8L);
    ev_run_once(l, 0);
    CHECK(writes == 2 && done_n == 2 && done_rc[8] == 0 && done_rc[15] == 0, "writes %d done %d",
          writes, done_n);
    CHECK(wlen == 36 && memcmp(written + 24, "eight\nagain\n", 12) == 0);

    /* A big group grows its buffer. */
    done_n = 0;
    char line[1000];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 20; i++)
        outbox_group_add(G, line, sizeof line, done, (void *)9L);
    ev_run_once(l, 0);
    CHECK(done_n == 20 && wlen == 36 + 20 * sizeof line);

    /* Left at free: still written. */
    size_t before = wlen;
    outbox_group_add(G, "last\n", 5, done, (void *)10L);
    outbox_group_free(G);
    CHECK(wlen == before + 5 && done_rc[10] == 0);
    ev_run_once(l, 0); /* the loop's queued flush was forgotten: no use after free */
    ev_loop_free(l);
    return unit_done("test_outbox_group");
}
