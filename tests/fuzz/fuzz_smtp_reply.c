/*
 * fuzz_smtp_reply.c - libFuzzer target for the SMTP reply-line parser: the
 * relay (or whoever answers in its place) writes these bytes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mailer/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int code = -1, more = -1;
    if (smtp_parse_reply_line((const char *)data, size, &code, &more) == 0 &&
        (code < 100 || code > 599 || (more != 0 && more != 1)))
        abort();
    return 0;
}
