/*
 * preflight.h - check, before forking workers, what would make them all
 * die (key files, user store, templates and static files), and load the
 * keys, without the master ever initialising OpenSSL or SQLite itself.
 */
#ifndef MG_PREFLIGHT_H
#define MG_PREFLIGHT_H

#include <stddef.h>

#include "core/conf.h"
#include "core/keyfile.h"

/* Runs in a short-lived child: loads the keyring (HKDF sub-keys) and opens
 * the user store once. On success *keys holds the derived keys and 0 is
 * returned; otherwise -1 with the reason in err. */
int preflight_run(const conf_t *c, keyring_t *keys, char *err, size_t errsz);

#endif
