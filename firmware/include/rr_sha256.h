/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), freestanding: no allocation, no libc beyond
 * memcpy/memset. Checked against the RFC 4231 vectors in tests/test_auth.c. */
#ifndef RR_SHA256_H
#define RR_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RR_SHA256_BLOCK 64u
#define RR_SHA256_DIGEST 32u

typedef struct {
    uint32_t h[8];
    uint64_t total;                 /* bytes hashed so far */
    uint8_t block[RR_SHA256_BLOCK]; /* pending bytes */
    size_t used;
} rr_sha256;

void rr_sha256_init(rr_sha256 *ctx);
void rr_sha256_update(rr_sha256 *ctx, const uint8_t *data, size_t len);
void rr_sha256_final(rr_sha256 *ctx, uint8_t digest[RR_SHA256_DIGEST]);

/* HMAC key schedule: the hash states after the ipad and opad blocks, computed once per key, so each
 * MAC costs the message's blocks plus one outer block (2 compressions for a message under 56 bytes). */
typedef struct {
    rr_sha256 inner;
    rr_sha256 outer;
} rr_hmac_key;

void rr_hmac_key_init(rr_hmac_key *key, const uint8_t *secret, size_t len);

/* Streaming HMAC: start from a key schedule, feed the message, finish into a 32-byte MAC. */
typedef struct {
    const rr_hmac_key *key;
    rr_sha256 inner;
} rr_hmac;

void rr_hmac_start(rr_hmac *mac, const rr_hmac_key *key);
void rr_hmac_update(rr_hmac *mac, const uint8_t *data, size_t len);
void rr_hmac_finish(rr_hmac *mac, uint8_t out[RR_SHA256_DIGEST]);

/* 1 if the len bytes are equal; time independent of where they differ. */
int rr_equal_ct(const uint8_t *a, const uint8_t *b, size_t len);

#endif /* RR_SHA256_H */
