#ifndef KITH_CLIBUV_SHIM_H
#define KITH_CLIBUV_SHIM_H
#include <uv.h>
#endif
