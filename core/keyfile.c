/*
 * keyfile.c - the master key file and HKDF sub-keys (see keyfile.h).
 *
 * Creation writes the line with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600
 * (fchmod'd too, so a permissive umask cannot widen it), fsyncs it, and
 * unlinks the half-written file on any failure, so a crash never leaves an
 * empty key that a later start would refuse with a confusing message.
 *
 * Loading fstat()s the opened descriptor (not the path, so there is no
 * check-then-use race), refuses group/other access, and parses strictly. The
 * decoded master key lives only on the stack and is cleansed right after the
 * sub-keys are derived.
 *
 * Derivation: HKDF-SHA256 with salt "magicd hkdf salt v1" and info strings
 * "magicd link v1", "magicd session v1", "magicd csrf v1". The key id is the
 * first 4 bytes of SHA-256("magicd key id v1" || master): it identifies the
 * key without revealing anything usable about it.
 */
#include "core/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/base64url.h"
#include "core/path.h"

#define KF_MAGIC "magicd-key v1 "
#define KF_MAGIC_LEN (sizeof(KF_MAGIC) - 1)
#define KF_B64_LEN B64URL_ENC_LEN(KEYFILE_MASTER_LEN) /* 43 */
#define KF_LINE_LEN (KF_MAGIC_LEN + KF_B64_LEN + 1)   /* with '\n' */

static const char kf_salt[] = "magicd hkdf salt v1";
static const char kf_id_label[] = "magicd key id v1";

int keyfile_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                 const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *p = params;
    int rc = -1;

    if (!kctx)
        goto done;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
    if (saltlen)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
        rc = 0;
done:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static int kf_sub(const uint8_t master[KEYFILE_MASTER_LEN], const char *info, uint8_t out[32])
{
    return keyfile_hkdf(master, KEYFILE_MASTER_LEN, (const uint8_t *)kf_salt, sizeof(kf_salt) - 1,
                        (const uint8_t *)info, strlen(info), out, 32);
}

int keyfile_derive(const uint8_t master[KEYFILE_MASTER_LEN], mg_key_t *k)
{
    uint8_t buf[sizeof(kf_id_label) - 1 + KEYFILE_MASTER_LEN], md[SHA256_DIGEST_LENGTH];

    memcpy(buf, kf_id_label, sizeof(kf_id_label) - 1);
    memcpy(buf + sizeof(kf_id_label) - 1, master, KEYFILE_MASTER_LEN);
    SHA256(buf, sizeof(buf), md);
    memcpy(k->id, md, sizeof(k->id));
    OPENSSL_cleanse(buf, sizeof(buf));
    if (kf_sub(master, "magicd link v1", k->link) < 0 ||
        kf_sub(master, "magicd session v1", k->session) < 0 ||
        kf_sub(master, "magicd csrf v1", k->csrf) < 0 ||
        kf_sub(master, "magicd code v1", k->code) < 0) {
        OPENSSL_cleanse(k, sizeof(*k));
        return -1;
    }
    return 0;
}

/* *exists is set when the failure was EEXIST (for keyfile_ensure). */
static int kf_create(const char *path, int *exists, char *err, size_t errsz)
{
    uint8_t key[KEYFILE_MASTER_LEN];
    char line[KF_LINE_LEN + 1], dir[4096];
    int fd;

    if (!path || !*path) {
        snprintf(err, errsz, "no key file path given");
        return -1;
    }
    if (RAND_bytes(key, sizeof(key)) != 1) {
        snprintf(err, errsz, "cannot create key file %s: no random bytes from OpenSSL", path);
        return -1;
    }
    memcpy(line, KF_MAGIC, KF_MAGIC_LEN);
    b64url_encode(key, sizeof(key), line + KF_MAGIC_LEN);
    line[KF_LINE_LEN - 1] = '\n';
    OPENSSL_cleanse(key, sizeof(key));

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *exists = errno == EEXIST;
        if (*exists)
            snprintf(err, errsz, "key file %s already exists; refusing to overwrite it", path);
        else if (errno == ENOENT && path_dir(path, dir, sizeof dir) == 0)
            snprintf(err, errsz,
                     "cannot create key file %s: its directory does not exist; make the "
                     "directory %s first (owned by the user magicd runs as)",
                     path, dir);
        else
            snprintf(err, errsz, "cannot create key file %s: %s", path, strerror(errno));
        OPENSSL_cleanse(line, sizeof(line));
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || write(fd, line, KF_LINE_LEN) != (ssize_t)KF_LINE_LEN ||
        fsync(fd) < 0) {
        snprintf(err, errsz, "cannot write key file %s: %s", path, strerror(errno));
        OPENSSL_cleanse(line, sizeof(line));
        close(fd);
        unlink(path);
        return -1;
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (close(fd) < 0) {
        snprintf(err, errsz, "cannot write key file %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int keyfile_generate(const char *path, char *err, size_t errsz)
{
    int exists = 0;

    return kf_create(path, &exists, err, errsz);
}

/* Read the whole (small) file; one byte more than a valid file so an
 * over-long one is detected. */
static ssize_t kf_read(int fd, char *buf, size_t cap)
{
    size_t got = 0;

    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int keyfile_load(const char *path, mg_key_t *k, char *err, size_t errsz)
{
    char buf[KF_LINE_LEN + 2];
    uint8_t master[KEYFILE_MASTER_LEN + 2];
    struct stat st;
    ssize_t n;
    long dn;
    int fd, rc = -1;

    if (!path || !*path) {
        snprintf(err, errsz, "no key file configured (key_file)");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(err, errsz,
                     "key file %s does not exist; create it (once) with `magicd keygen %s`", path,
                     path);
        else
            snprintf(err, errsz, "cannot open key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errsz, "cannot stat key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "key file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        snprintf(err, errsz,
                 "key file %s is accessible by group or others (mode %04o); "
                 "run `chmod 600 %s`",
                 path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    n = kf_read(fd, buf, sizeof(buf));
    if (n < 0) {
        snprintf(err, errsz, "cannot read key file %s: %s", path, strerror(errno));
        goto out;
    }
    /* Accept the line with or without its final newline (an editor may
     * have dropped it), nothing else. */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if ((size_t)n != KF_MAGIC_LEN + KF_B64_LEN || memcmp(buf, KF_MAGIC, KF_MAGIC_LEN) != 0) {
        snprintf(err, errsz,
                 "key file %s is not a magicd key file (expected one line "
                 "\"magicd-key v1 <43 base64url characters>\")",
                 path);
        goto out;
    }
    dn = b64url_decode(buf + KF_MAGIC_LEN, KF_B64_LEN, master, sizeof(master));
    if (dn != KEYFILE_MASTER_LEN) {
        snprintf(err, errsz, "key file %s: the key is not valid base64url of 32 bytes", path);
        goto out;
    }
    if (keyfile_derive(master, k) < 0) {
        snprintf(err, errsz, "key file %s: key derivation (HKDF-SHA256) failed in OpenSSL", path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(master, sizeof(master));
    close(fd);
    return rc;
}

int keyfile_ensure(const char *path, int *created, char *err, size_t errsz)
{
    mg_key_t k;
    int exists = 0;

    *created = 0;
    if (kf_create(path, &exists, err, errsz) == 0) {
        *created = 1;
        return 0;
    }
    if (!exists)
        return -1;
    /* It was there already: make sure it is usable, so a first start with
     * a broken key fails here with a clear message. */
    if (keyfile_load(path, &k, err, errsz) < 0)
        return -1;
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

int keyring_load(keyring_t *kr, const char *cur_path, const char *prev_path_or_empty, char *err,
                 size_t errsz)
{
    memset(kr, 0, sizeof(*kr));
    if (keyfile_load(cur_path, &kr->cur, err, errsz) < 0)
        return -1;
    if (prev_path_or_empty && *prev_path_or_empty) {
        if (keyfile_load(prev_path_or_empty, &kr->prev, err, errsz) < 0) {
            keyring_wipe(kr);
            return -1;
        }
        /* The same key twice would only double the work of every failed
         * check; treat it as "no previous key". */
        if (memcmp(kr->prev.id, kr->cur.id, sizeof(kr->cur.id)) == 0)
            OPENSSL_cleanse(&kr->prev, sizeof(kr->prev));
        else
            kr->has_prev = 1;
    }
    return 0;
}

void keyring_wipe(keyring_t *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
}
