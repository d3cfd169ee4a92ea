/*
 * version.h - the version magicd reports (`magicd version`, and the
 * `version` label on every profile sample). A build may set it with
 * -DMAGICD_VERSION=...
 */
#ifndef MG_VERSION_H
#define MG_VERSION_H

#ifndef MAGICD_VERSION
#define MAGICD_VERSION "0.1.0"
#endif

#endif
