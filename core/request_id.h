/*
 * request_id.h - naming each request, so one slow request can be found in
 * the access log and isolated in a CPU profile (-tagfocus=request_id=...).
 *
 * An X-Request-Id a client or proxy sent is kept when it is a sane token
 * (1-36 characters of [A-Za-z0-9._:-]), so a front proxy's id follows the
 * request through; anything else is replaced by one the worker makes: 16
 * hex digits, a random per-worker prefix and a counter (unique without a
 * random draw per request).
 *
 * request_id_publish() puts the id in the worker's shm slot for the
 * SIGPROF handler, which copies it into the samples taken while the
 * request runs; request_id_clear() ends that. The slot's req_seq is a
 * sequence lock: odd while the id is being written, so the handler (which
 * can interrupt the writer) takes no torn id.
 */
#ifndef MG_REQUEST_ID_H
#define MG_REQUEST_ID_H

#include <stdint.h>

#include "core/http.h"
#include "core/shm.h"

typedef struct {
    uint32_t prefix;
    uint32_t counter;
} request_id_gen_t;

void request_id_init(request_id_gen_t *g);
/* Fill req->request_id. */
void request_id_assign(request_id_gen_t *g, http_request_t *req);
void request_id_publish(shm_worker_t *w, const char *id);
void request_id_clear(shm_worker_t *w);
/* SIGPROF side: copy the current id into out[40]; 0 when none or torn. */
int request_id_read(const shm_worker_t *w, char out[40]);

#endif
