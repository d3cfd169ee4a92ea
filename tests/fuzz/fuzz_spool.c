/*
 * fuzz_spool.c - libFuzzer target for the spool file readers: the mailer
 * reads files a crashed or full-disk writer may have left half-written (a
 * message file, or a batch file that may go on with the zeros it was made
 * with), so any bytes must parse or be refused, and what parses must be
 * safe to put in a mail header (no CR or LF in the address or the link).
 * Inputs starting with the batch magic go to the batch parser, the others
 * to the message parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/spool.h"
#include "core/spool_batch.h"

static int fz_record(const spool_msg_t *m, const char *rec, size_t reclen, void *arg)
{
    (void)rec;
    (void)reclen;
    (void)arg;
    if (!spool_addr_ok(m->to) || !spool_url_ok(m->url))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_msg_t m;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (size >= sizeof(SPOOL_BATCH_MAGIC) - 1 &&
        memcmp(text, SPOOL_BATCH_MAGIC, sizeof(SPOOL_BATCH_MAGIC) - 1) == 0) {
        if (spool_batch_len(text, size) > size)
            abort();
        int torn = 0;
        spool_batch_parse(text, size, fz_record, NULL, &torn);
    } else if (spool_parse(text, size, &m) == 0 && (!spool_addr_ok(m.to) || !spool_url_ok(m.url)))
        abort();
    free(text);
    return 0;
}
