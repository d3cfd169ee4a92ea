/*
 * return_url.h - where a browser may be sent after signing in (return-to).
 *
 * A return URL arrives from the outside (`/login?rd=`, a proxy's
 * X-Original-URL, a form field) and ends up in a Location header, so it is
 * the classic open redirect. This module decides, with no I/O and no
 * allocation, whether a URL is safe to follow: it first reduces it to one
 * canonical spelling (or refuses it), then matches that against the
 * operator's `allowed_return_urls` globs. Callers follow the canonical form
 * only, and fall back to `default_return_url` on any refusal.
 *
 * A URL is accepted only in one of two shapes:
 *     /path[?query][#fragment]                   (relative to magicd itself)
 *     http[s]://host[:port][/path][?query][#frag]
 * written with the characters RFC 3986 allows and nothing else: no space,
 * tab, CR, LF or other control, no byte >= 0x80 (IDN look-alikes, direction
 * overrides), no backslash (browsers read it as a slash), no userinfo
 * (`good@evil`), no '%' in the authority, no escaped slash, backslash,
 * dot, '%' or control anywhere (`%2f%2f`, `%5c`, `%252f`, `%0d%0a`), no "."
 * or ".." path segment, and a relative URL never starts with "//". Scheme and
 * host are lower-cased, a default port (:80 for http, :443 for https) is
 * dropped and an empty path becomes "/"; the rest is kept byte for byte.
 *
 * Patterns have the same two shapes, with '*' as the only wildcard (written
 * STAR here, since a slash before a star would end this comment):
 *     https://STAR.example.com/STAR    http://127.0.0.1:STAR    /app/STAR
 * Scheme, authority and path are matched separately, so a '*' in the host
 * can never swallow a '/', '?', '#', '@' or ':' of the URL (it matches host
 * characters only, and a port must be in the pattern to be accepted); a
 * pattern without a path allows any path. A relative pattern matches only
 * relative URLs, an absolute one only absolute URLs.
 */
#ifndef MG_RETURN_URL_H
#define MG_RETURN_URL_H

#include <stddef.h>

#define RETURN_URL_MAX 512 /* longest canonical return URL, without the NUL */

/* Canonical form of url (n bytes, need not be NUL-terminated) into out
 * (NUL-terminated). Returns its length, or -1 when the URL is refused (then
 * *why, when non-NULL, says why in a few words). */
int return_url_canon(const char *url, size_t n, char *out, size_t outsz, const char **why);

/* Is pat a valid pattern? 0, or -1 with *why. */
int return_url_pattern_check(const char *pat, const char **why);

/* 1 when the canonical URL canon matches pattern pat, else 0. */
int return_url_match(const char *pat, const char *canon);

/* The whole decision: canonical url into out when it is valid and matches
 * one of the npats patterns; returns its length, or -1 (use the default). */
int return_url_allowed(const char *url, size_t n, const char *const *pats, int npats, char *out,
                       size_t outsz);

/* Percent-encode s for use as a query value (unreserved bytes kept). Returns
 * the length written, or -1 when out is too small. */
int return_url_escape(const char *s, char *out, size_t outsz);

#endif
