/*
 * path.h - the directory a file path names, for messages and checks.
 *
 * Start-up checks and their error messages need "the directory this file
 * would be created in" (magicd -t asks whether the error log or the user
 * store could be made there; keygen says which directory to make first).
 * dirname(3) may write into its argument and returns static storage on
 * some libcs; this writes into the caller's buffer and leaves path alone:
 *
 *   "a/b/c" -> "a/b"    "/c" -> "/"    "c" -> "."
 */
#ifndef MG_PATH_H
#define MG_PATH_H

#include <stddef.h>

/* 0, or -1 when the directory does not fit in out (out is then empty). */
int path_dir(const char *path, char *out, size_t outsz);

/* Whether path could be opened for reading and writing without making
 * anything: it exists and we may, or its directory lets us create it.
 * 0, or -1 with why ("Permission denied", "cannot create it there: No
 * such file or directory"). */
int path_writable(const char *path, char *why, size_t whysz);

#endif
