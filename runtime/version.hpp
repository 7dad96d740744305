// goro's version, for code that must tell releases apart:
//
//     #if GORO_VERSION_NUMBER >= 100  // 0.1.0 or later
//
// GORO_VERSION_NUMBER is major * 10000 + minor * 100 + patch. The same
// version is meson.build's project version (a test checks that they agree).
#pragma once

#define GORO_VERSION_MAJOR 0
#define GORO_VERSION_MINOR 1
#define GORO_VERSION_PATCH 0
#define GORO_VERSION_STRING "0.1.0"
#define GORO_VERSION_NUMBER (GORO_VERSION_MAJOR * 10000 + GORO_VERSION_MINOR * 100 + GORO_VERSION_PATCH)
