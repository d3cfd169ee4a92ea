/*
 * fuzz_conf.c - libFuzzer target for the configuration parser (without
 * include, which would touch the file system).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096 || memmem(data, size, "include", 7))
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    static conf_t c;
    conf_defaults(&c);
    snprintf(c.prefix, sizeof c.prefix, "/tmp");
    char err[512];
    conf_load_string(&c, "fuzz", text, err, sizeof err);
    free(text);
    return 0;
}
