/*
 * test_pprof_build.c - the profile.proto encoder, checked by protoc.
 *
 * Builds a profile from this test's own stack (so the symbolizer resolves
 * real functions with file and line), encodes it, and has `protoc --decode`
 * read it against tests/unit/profiler/profile.proto, written from the specification.
 * Then checks what pprof relies on: string_table[0] empty, mapping 1 is this
 * binary with a build id and the has_* flags, ids non-zero and unique, samples
 * with equal stacks merged, labels kept, and gzip that zlib inflates back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "profiler/prof_build.h"
#include "profiler/prof_pb.h"
#include "tests/unit/unit.h"

static char *slurp_cmd(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    size_t r;
    while ((r = fread(s + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap)
            s = realloc(s, cap *= 2);
    }
    s[n] = 0;
    if (pclose(p) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

__attribute__((noinline)) static uint64_t here_pc(void)
{
    return (uint64_t)(uintptr_t)__builtin_return_address(0) - 1;
}

static void test_varint(void)
{
    buf_t b = {0};
    prof_pb_varint(&b, 300);
    CHECK(b.len == 2 && (uint8_t)b.data[0] == 0xac && b.data[1] == 0x02);
    buf_reset(&b);
    prof_pb_int(&b, 1, -1);
    CHECK(b.len == 11); /* key + 10-byte two's complement */
    buf_free(&b);
}

int main(void)
{
    test_varint();
    if (system("command -v protoc >/dev/null 2>&1") != 0) {
        printf("skip: protoc not installed\n");
        return 77;
    }
    prof_sym_t *sym = prof_sym_new();
    CHECK(sym != NULL);
    CHECK(prof_sym_nmappings(sym) > 1);
    char exe[512] = "";
    ssize_t en = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[en > 0 ? en : 0] = 0;
    CHECK(strcmp(prof_sym_mapping(sym, 0)->path, exe) == 0);
    CHECK(strlen(prof_sym_mapping(sym, 0)->build_id) >= 16);

    prof_build_t *b = prof_build_new(sym);
    prof_build_sample_type(b, "samples", "count");
    prof_build_sample_type(b, "cpu", "nanoseconds");
    prof_build_period(b, "cpu", "nanoseconds", 10000000);
    prof_build_comment(b, "dropped 0 samples");
    prof_build_time(b, 1700000000000000000ll, 30000000000ll);
    uint64_t pcs[3] = {here_pc(), (uint64_t)(uintptr_t)&main, (uint64_t)(uintptr_t)&malloc};
    int64_t v[2] = {1, 10000000};
    prof_label_t lab[3] = {{"pid", "123", 0, NULL},
                           {"worker", "0", 0, NULL},
                           {"route", "POST /magic/generate", 0, NULL}};
    CHECK(prof_build_sample(b, pcs, 3, v, lab, 3) == 0);
    CHECK(prof_build_sample(b, pcs, 3, v, lab, 3) == 0); /* merged */
    CHECK(prof_build_sample(b, pcs, 2, v, lab, 2) == 0);
    CHECK(prof_build_nsamples(b) == 2);

    buf_t raw = {0};
    CHECK(prof_build_encode(b, &raw) == 0);
    char path[] = "/tmp/test_pprof_build.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, raw.data, raw.len) == (ssize_t)raw.len);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "protoc --proto_path=tests/unit --decode=perftools.profiles.Profile "
             "tests/unit/profiler/profile.proto < %s",
             path);
    char *txt = slurp_cmd(cmd);
    unlink(path);
    CHECK(txt != NULL);
    if (txt) {
        CHECK(strstr(txt, "string_table: \"\"\n") != NULL);
        /* first string is the empty one */
        const char *first = strstr(txt, "string_table:");
        CHECK(first && strncmp(first, "string_table: \"\"\n", 17) == 0);
        CHECK(strstr(txt, "string_table: \"main\"") != NULL);
        CHECK(strstr(txt, "test_pprof_build.c\"") != NULL);
        CHECK(strstr(txt, "string_table: \"POST /magic/generate\"") != NULL);
        CHECK(strstr(txt, "value: 2\n  value: 20000000") != NULL);
        CHECK(count(txt, "\nsample {") == 2);
        CHECK(count(txt, "label {") == 5);
        CHECK(strstr(txt, "has_functions: true") && strstr(txt, "has_filenames: true") &&
              strstr(txt, "has_line_numbers: true"));
        CHECK(strstr(txt, "mapping {\n  id: 1\n") != NULL);
        CHECK(strstr(txt, "period: 10000000") != NULL);
        CHECK(strstr(txt, "duration_nanos: 30000000000") != NULL);
        CHECK(strstr(txt, "comment: ") != NULL);
        CHECK(strstr(txt, " id: 0\n") == NULL); /* every id non-zero */
        CHECK(count(txt, "location {\n  id: ") == 3);
        CHECK(strstr(txt, "location {\n  id: 3\n") != NULL);
        if (unit_failures)
            fputs(txt, stderr);
        free(txt);
    }

    buf_t gz = {0};
    CHECK(prof_build_gzip(b, &gz) == 0);
    CHECK(gz.len > 18 && (uint8_t)gz.data[0] == 0x1f && (uint8_t)gz.data[1] == 0x8b);
    char *back = malloc(raw.len + 16);
    z_stream z = {0};
    inflateInit2(&z, 15 + 16);
    z.next_in = (Bytef *)gz.data;
    z.avail_in = (uInt)gz.len;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)raw.len + 16;
    CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
    CHECK(z.total_out == raw.len && memcmp(back, raw.data, raw.len) == 0);
    inflateEnd(&z);
    free(back);
    buf_free(&gz);
    buf_free(&raw);
    prof_build_free(b);
    prof_sym_free(sym);
    if (unit_failures) {
        fprintf(stderr, "%d failure(s)\n", unit_failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
