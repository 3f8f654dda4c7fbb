/* The host build's key: read from the file `robot-rl firmware provision` writes (64 hex digits),
 * which must not be accessible to group or others (mode 0600 or stricter). */
#ifndef HOST_KEY_H
#define HOST_KEY_H

#include <stdint.h>

#include "rr_protocol_gen.h"

/* 0 on success; otherwise writes a message naming the file and the problem into error. */
int host_key_load(const char *path, uint8_t key[RR_KEY_SIZE], char *error, unsigned error_size);

#endif /* HOST_KEY_H */
