/*
 * prof_pb.h - the smallest protobuf writer that can produce profile.proto.
 *
 * pprof profiles are protocol buffers (github.com/google/pprof, proto/
 * profile.proto). Only the wire types that format uses are written here:
 * varints (wire type 0) and length-delimited fields (wire type 2) for
 * strings, packed repeated integers and nested messages. A nested message is
 * written into its own buffer first and then appended with its length, which
 * keeps the writer free of back-patching and easy to test against
 * `protoc --decode`.
 */
#ifndef MG_PROF_PB_H
#define MG_PROF_PB_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

int prof_pb_varint(buf_t *b, uint64_t v);
/* Field `field` as a varint (wire type 0). Zero values are written too:
 * the caller decides what to omit. */
int prof_pb_uint(buf_t *b, unsigned field, uint64_t v);
int prof_pb_int(buf_t *b, unsigned field, int64_t v);
/* Length-delimited field: bytes, string or an embedded message. */
int prof_pb_bytes(buf_t *b, unsigned field, const void *p, size_t n);
int prof_pb_string(buf_t *b, unsigned field, const char *s);
/* Packed repeated varints (uint64 or int64 two's complement). */
int prof_pb_packed(buf_t *b, unsigned field, const uint64_t *v, size_t n);

#endif
