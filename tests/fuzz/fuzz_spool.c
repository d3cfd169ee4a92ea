/*
 * fuzz_spool.c - libFuzzer target for the spool file reader: the mailer
 * reads files a crashed or full-disk writer may have left half-written, so
 * any bytes must parse or be refused, and what parses must be safe to put
 * in a mail header (no CR or LF in the address or the link).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_msg_t m;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (spool_parse(text, size, &m) == 0 && (!spool_addr_ok(m.to) || !spool_url_ok(m.url)))
        abort();
    free(text);
    return 0;
}
