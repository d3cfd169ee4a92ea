/*
 * fuzz_token.c - libFuzzer target for opening link and session tokens: the
 * token is the attacker's (it arrives in a URL or a cookie), so opening it
 * must never read out of bounds, never succeed for bytes the key did not
 * seal, and agree with what sealing produces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/token.h"
#include "core/keyfile.h"

static keyring_t kr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    uint8_t master[KEYFILE_MASTER_LEN];
    for (size_t i = 0; i < sizeof master; i++)
        master[i] = (uint8_t)(i * 7 + 1);
    if (keyfile_derive(master, &kr.cur) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    link_claims_t lc;
    session_claims_t sc;
    const char *tok = (const char *)data;
    /* Random bytes never authenticate: a success here is a forgery. */
    if (token_link_open(&kr, tok, size, 1700000000, &lc) == TOK_OK)
        abort();
    if (token_session_open(&kr, tok, size, 1700000000000ull, &sc) == TOK_OK)
        abort();
    return 0;
}
