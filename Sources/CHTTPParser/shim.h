#ifndef KITH_CHTTPPARSER_SHIM_H
#define KITH_CHTTPPARSER_SHIM_H
#include <http_parser.h>
#endif
