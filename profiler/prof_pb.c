/*
 * prof_pb.c - protobuf wire encoding (varints and length-delimited fields).
 *
 * Every function appends to a buf_t and returns 0, or -1 when the buffer
 * cannot grow; callers check once at the end through the buffer's state, so
 * a profile is either complete or reported as failed.
 */
#include "profiler/prof_pb.h"

#include <string.h>

int prof_pb_varint(buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return buf_append(b, tmp, n);
}

static int pb_key(buf_t *b, unsigned field, unsigned wire)
{
    return prof_pb_varint(b, ((uint64_t)field << 3) | wire);
}

int prof_pb_uint(buf_t *b, unsigned field, uint64_t v)
{
    if (pb_key(b, field, 0) < 0)
        return -1;
    return prof_pb_varint(b, v);
}

int prof_pb_int(buf_t *b, unsigned field, int64_t v)
{
    /* int64 fields are encoded as the two's complement uint64 (10 bytes for
     * negatives), not zigzag: profile.proto uses int64, not sint64. */
    return prof_pb_uint(b, field, (uint64_t)v);
}

int prof_pb_bytes(buf_t *b, unsigned field, const void *p, size_t n)
{
    if (pb_key(b, field, 2) < 0 || prof_pb_varint(b, n) < 0)
        return -1;
    return n ? buf_append(b, p, n) : 0;
}

int prof_pb_string(buf_t *b, unsigned field, const char *s)
{
    return prof_pb_bytes(b, field, s, strlen(s));
}

int prof_pb_packed(buf_t *b, unsigned field, const uint64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = v[i];
        do {
            len++;
            x >>= 7;
        } while (x);
    }
    if (pb_key(b, field, 2) < 0 || prof_pb_varint(b, len) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (prof_pb_varint(b, v[i]) < 0)
            return -1;
    return 0;
}
