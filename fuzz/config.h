/* config.h for the fuzz targets, which compile the channel's sources
 * directly instead of through meson (see tools/fuzz.sh). Keep in step with
 * the definitions meson puts in the build directory's config.h. */

#pragma once

#define GETTEXT_PACKAGE "asynccpu-glib-1"
#define PACKAGE_NAME    "asynccpu-glib"
#define PACKAGE_STRING  "asynccpu-glib-1"
#define PACKAGE_VERSION "0.0.0-fuzz"
#define _ACPU_EXTERN    __attribute__((visibility("default"))) extern
#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1
#endif
