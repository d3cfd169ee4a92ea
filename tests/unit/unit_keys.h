/*
 * unit_keys.h - the key ring the unit tests of sealed and signed things
 * share (links, sessions, CSRF tokens, sign-in codes).
 *
 * unit_ring(kr, cur, prev) fills kr as keyring_load would from key files,
 * without files: the current key's master is 32 bytes of `cur`, and when
 * prev >= 0 a previous key of 32 bytes of `prev` is there too, as after a
 * rotation. Distinct bytes give distinct keys, so a test can seal under one
 * ring and open under another to check rotation and unknown keys.
 */
#ifndef MG_UNIT_KEYS_H
#define MG_UNIT_KEYS_H

#include <stdint.h>
#include <string.h>

#include "core/keyfile.h"

static inline void unit_ring(keyring_t *kr, uint8_t cur, int prev)
{
    uint8_t m[KEYFILE_MASTER_LEN];

    memset(kr, 0, sizeof(*kr));
    memset(m, cur, sizeof m);
    keyfile_derive(m, &kr->cur);
    if (prev >= 0) {
        memset(m, prev, sizeof m);
        keyfile_derive(m, &kr->prev);
        kr->has_prev = 1;
    }
}

#endif
