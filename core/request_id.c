/*
 * request_id.c - request ids (see request_id.h).
 */
#include "core/request_id.h"

#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void request_id_init(request_id_gen_t *g)
{
    uint32_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL);
    /* The first hex digit is a letter (a-f), so an id is never all digits:
     * pprof reads an all-digit -tagfocus=request_id=... value as a number
     * and matches no string label. */
    g->prefix = (r & 0x0fffffffu) | ((0xau + (r >> 28) % 6u) << 28);
    g->counter = 0;
}

static int rid_sane(const http_str_t *v)
{
    if (v->n == 0 || v->n > 36)
        return 0;
    for (size_t i = 0; i < v->n; i++) {
        char c = v->p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static void rid_hex(char *out, uint32_t v)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        out[i] = hx[v & 15];
        v >>= 4;
    }
}

void request_id_assign(request_id_gen_t *g, const http_request_t *req, char *out)
{
    for (int i = 0; i < req->nheaders; i++) {
        const http_header_t *h = &req->headers[i];
        if (h->name.n == 12 && !strncasecmp(h->name.p, "x-request-id", 12)) {
            if (rid_sane(&h->value)) {
                memcpy(out, h->value.p, h->value.n);
                out[h->value.n] = 0;
                return;
            }
            break;
        }
    }
    rid_hex(out, g->prefix);
    rid_hex(out + 8, ++g->counter);
    out[16] = 0;
}

/* The sequence moves by a load and a store, not atomic_fetch_add: the
 * worker's loop is its only writer and the SIGPROF handler that reads it
 * runs on the same thread (hence signal fences), so no other writer can
 * come in between, and a locked read-modify-write (twice per publish and
 * per clear, on every request) buys nothing. */
static uint32_t rid_seq_begin(shm_worker_t *w)
{
    uint32_t s = atomic_load_explicit(&w->req_seq, memory_order_relaxed);
    atomic_store_explicit(&w->req_seq, s + 1, memory_order_relaxed); /* odd: changing */
    atomic_signal_fence(memory_order_seq_cst);
    return s;
}

static void rid_seq_end(shm_worker_t *w, uint32_t s)
{
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&w->req_seq, s + 2, memory_order_release); /* even: stable */
}

void request_id_publish(shm_worker_t *w, const char *id)
{
    uint32_t s = rid_seq_begin(w);
    size_t n = strlen(id);
    if (n >= sizeof w->req_id)
        n = sizeof w->req_id - 1;
    memcpy(w->req_id, id, n);
    w->req_id[n] = 0;
    rid_seq_end(w, s);
}

void request_id_clear(shm_worker_t *w)
{
    uint32_t s = rid_seq_begin(w);
    w->req_id[0] = 0;
    rid_seq_end(w, s);
}

int request_id_read(const shm_worker_t *w, char out[40])
{
    uint32_t s0 = atomic_load_explicit(&w->req_seq, memory_order_acquire);
    if (s0 & 1)
        return 0;
    memcpy(out, w->req_id, 40);
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&w->req_seq, memory_order_relaxed) != s0)
        return 0;
    out[39] = 0;
    return out[0] != 0;
}
