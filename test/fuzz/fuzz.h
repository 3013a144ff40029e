/* libFuzzer harnesses for slserve's parsers. Each defines
 * LLVMFuzzerTestOneInput; `make fuzz` links it with libFuzzer (clang), and
 * replay.c runs it over a corpus without libFuzzer (any compiler), as
 * `make test` does. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write data to a private temporary file named base (created once, in a
 * directory of the harness's own) and return its path. */
const char *fuzz_file(const char *base, const uint8_t *data, size_t size);
/* The harness's private temporary directory. */
const char *fuzz_dir(void);

#endif
