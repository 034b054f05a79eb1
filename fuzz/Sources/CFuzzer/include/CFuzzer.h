#ifndef KITH_CFUZZER_H
#define KITH_CFUZZER_H
#include <stddef.h>
#include <stdint.h>
// libFuzzer's driver: SwiftPM names each executable's entry point <module>_main and makes it `main`,
// so the fuzzers start libFuzzer from there instead of relying on libFuzzer's own main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
