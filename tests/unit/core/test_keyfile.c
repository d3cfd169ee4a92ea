/*
 * test_keyfile.c - key file creation, permissions, format checks, HKDF and
 * the previous key of a keyring, on real files in a temporary directory.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keyfile.h"
#include "tests/unit/unit.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    fchmod(fd, mode);
    close(fd);
}

static void test_hkdf_rfc5869(void)
{
    /* RFC 5869 A.1 */
    uint8_t ikm[22], salt[13], info[10], okm[42];
    static const uint8_t want[42] = {
        0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
        0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
        0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
    memset(ikm, 0x0b, sizeof(ikm));
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    CHECK(keyfile_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), okm,
                       sizeof(okm)) == 0);
    CHECK(memcmp(okm, want, sizeof(want)) == 0);
}

static void test_derive(void)
{
    uint8_t m1[32], m2[32];
    mg_key_t a, b, c;
    memset(m1, 1, 32);
    memset(m2, 2, 32);
    CHECK(keyfile_derive(m1, &a) == 0);
    CHECK(keyfile_derive(m1, &b) == 0);
    CHECK(keyfile_derive(m2, &c) == 0);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);     /* deterministic */
    CHECK(memcmp(a.id, c.id, 4) != 0);         /* ids differ per key */
    CHECK(memcmp(a.link, a.session, 32) != 0); /* sub-keys are distinct */
    CHECK(memcmp(a.link, a.csrf, 32) != 0);
    CHECK(memcmp(a.session, a.csrf, 32) != 0);
    CHECK(memcmp(a.link, m1, 32) != 0); /* not the master key itself */
}

static void test_generate_load(void)
{
    char p[512], err[512];
    struct stat st;
    mg_key_t k1, k2;
    char buf[128];

    path_in(p, sizeof(p), "a.key");
    umask(0); /* a permissive umask must not widen the mode */
    CHECK(keyfile_generate(p, err, sizeof(err)) == 0);
    umask(022);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    {
        FILE *f = fopen(p, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        CHECK(n == 58 && strncmp(buf, "magicd-key v1 ", 14) == 0 && buf[57] == '\n');
    }
    CHECK(keyfile_load(p, &k1, err, sizeof(err)) == 0);
    CHECK(keyfile_load(p, &k2, err, sizeof(err)) == 0);
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0); /* survives "restarts" */

    /* Refuses to overwrite, and leaves the file alone. */
    CHECK(keyfile_generate(p, err, sizeof(err)) == -1);
    CHECK(strstr(err, "already exists") && strstr(err, p));
    CHECK(keyfile_load(p, &k2, err, sizeof(err)) == 0 && memcmp(&k1, &k2, sizeof(k1)) == 0);

    /* Two generated keys differ. */
    {
        char p2[512];
        mg_key_t k3;
        path_in(p2, sizeof(p2), "b.key");
        CHECK(keyfile_generate(p2, err, sizeof(err)) == 0);
        CHECK(keyfile_load(p2, &k3, err, sizeof(err)) == 0);
        CHECK(memcmp(k1.link, k3.link, 32) != 0);
    }

    /* Group/other readable: refused, message names the path. */
    chmod(p, 0644);
    CHECK(keyfile_load(p, &k2, err, sizeof(err)) == -1);
    CHECK(strstr(err, p) && strstr(err, "0644"));
    chmod(p, 0640);
    CHECK(keyfile_load(p, &k2, err, sizeof(err)) == -1);
    chmod(p, 0400);
    CHECK(keyfile_load(p, &k2, err, sizeof(err)) == 0);
    chmod(p, 0600);

    /* Missing file. */
    {
        char p3[512];
        path_in(p3, sizeof(p3), "missing.key");
        CHECK(keyfile_load(p3, &k2, err, sizeof(err)) == -1);
        CHECK(strstr(err, p3) && strstr(err, "keygen"));
        /* A directory where the file should be: refused without crashing. */
        CHECK(keyfile_load(dir, &k2, err, sizeof(err)) == -1);
    }
}

static void test_bad_formats(void)
{
    char p[512], err[512];
    mg_key_t k;
    static const char *bad[] = {
        "",
        "magicd-key v1 \n",
        "magicd-key v2 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",   /* 42 chars */
        "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", /* 44 chars */
        "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+\n",  /* bad char */
        "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB\n",  /* non-canonical */
        "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\n",
        "0123456789abcdef0123456789abcdef",
    };
    path_in(p, sizeof(p), "bad.key");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(p, bad[i], 0600);
        err[0] = '\0';
        if (keyfile_load(p, &k, err, sizeof(err)) != -1 || !strstr(err, p)) {
            fprintf(stderr, "bad format %zu accepted or unnamed: %s\n", i, err);
            unit_failures++;
        }
    }
    /* The same line without its final newline is fine. */
    write_file(p, "magicd-key v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0600);
    CHECK(keyfile_load(p, &k, err, sizeof(err)) == 0);
    unlink(p);
}

static void test_ensure_and_ring(void)
{
    char p[512], old[512], err[512];
    int created = -1;
    keyring_t kr;
    mg_key_t cur, prev;

    path_in(p, sizeof(p), "ensure.key");
    CHECK(keyfile_ensure(p, &created, err, sizeof(err)) == 0 && created == 1);
    CHECK(keyfile_load(p, &cur, err, sizeof(err)) == 0);
    CHECK(keyfile_ensure(p, &created, err, sizeof(err)) == 0 && created == 0);
    {
        mg_key_t again;
        CHECK(keyfile_load(p, &again, err, sizeof(err)) == 0);
        CHECK(memcmp(&cur, &again, sizeof(cur)) == 0); /* not regenerated */
    }
    chmod(p, 0666);
    CHECK(keyfile_ensure(p, &created, err, sizeof(err)) == -1 && created == 0);
    chmod(p, 0600);

    path_in(old, sizeof(old), "old.key");
    CHECK(keyfile_generate(old, err, sizeof(err)) == 0);
    CHECK(keyfile_load(old, &prev, err, sizeof(err)) == 0);

    CHECK(keyring_load(&kr, p, "", err, sizeof(err)) == 0 && !kr.has_prev);
    CHECK(memcmp(&kr.cur, &cur, sizeof(cur)) == 0);
    CHECK(keyring_load(&kr, p, NULL, err, sizeof(err)) == 0 && !kr.has_prev);
    CHECK(keyring_load(&kr, p, old, err, sizeof(err)) == 0 && kr.has_prev);
    CHECK(memcmp(&kr.prev, &prev, sizeof(prev)) == 0);
    CHECK(keyring_load(&kr, p, p, err, sizeof(err)) == 0 && !kr.has_prev); /* same key */
    chmod(old, 0604);
    CHECK(keyring_load(&kr, p, old, err, sizeof(err)) == -1 && strstr(err, old));
    keyring_wipe(&kr);
    CHECK(kr.has_prev == 0 && kr.cur.link[0] == 0 && kr.cur.link[31] == 0);
}

int main(void)
{
    char cmd[300];
    snprintf(dir, sizeof(dir), "%s/test_keyfile.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_hkdf_rfc5869();
    test_derive();
    test_generate_load();
    test_bad_formats();
    test_ensure_and_ring();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (unit_failures) {
        fprintf(stderr, "test_keyfile: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_keyfile: ok\n");
    return 0;
}
