#include "rr_sha256.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void compress(uint32_t h[8], const uint8_t block[RR_SHA256_BLOCK]) {
    uint32_t w[64], s[8];
    for (unsigned i = 0; i < 16; ++i) {
        w[i] = ((uint32_t)block[4 * i] << 24) | ((uint32_t)block[4 * i + 1] << 16)
             | ((uint32_t)block[4 * i + 2] << 8) | (uint32_t)block[4 * i + 3];
    }
    for (unsigned i = 16; i < 64; ++i) {
        const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(s, h, sizeof s);
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], hh = s[7];
    for (unsigned i = 0; i < 64; ++i) {
        const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] = a; s[1] = b; s[2] = c; s[3] = d; s[4] = e; s[5] = f; s[6] = g; s[7] = hh;
    for (unsigned i = 0; i < 8; ++i) h[i] += s[i];
}

void rr_sha256_init(rr_sha256 *ctx) {
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(ctx->h, H0, sizeof H0);
    ctx->total = 0;
    ctx->used = 0;
}

void rr_sha256_update(rr_sha256 *ctx, const uint8_t *data, size_t len) {
    ctx->total += len;
    while (len > 0) {
        const size_t room = RR_SHA256_BLOCK - ctx->used, take = len < room ? len : room;
        memcpy(ctx->block + ctx->used, data, take);
        ctx->used += take;
        data += take;
        len -= take;
        if (ctx->used == RR_SHA256_BLOCK) {
            compress(ctx->h, ctx->block);
            ctx->used = 0;
        }
    }
}

void rr_sha256_final(rr_sha256 *ctx, uint8_t digest[RR_SHA256_DIGEST]) {
    const uint64_t bits = ctx->total * 8u;
    uint8_t pad[RR_SHA256_BLOCK + 8] = {0x80u};
    const size_t pad_len = (ctx->used < 56u ? 56u : 120u) - ctx->used;
    for (unsigned i = 0; i < 8; ++i) pad[pad_len + i] = (uint8_t)(bits >> (56 - 8 * i));
    rr_sha256_update(ctx, pad, pad_len + 8);
    for (unsigned i = 0; i < 8; ++i) {
        for (unsigned b = 0; b < 4; ++b) digest[4 * i + b] = (uint8_t)(ctx->h[i] >> (24 - 8 * b));
    }
}

void rr_hmac_key_init(rr_hmac_key *key, const uint8_t *secret, size_t len) {
    uint8_t block[RR_SHA256_BLOCK] = {0}, pad[RR_SHA256_BLOCK];
    if (len > RR_SHA256_BLOCK) {
        rr_sha256 hash;
        rr_sha256_init(&hash);
        rr_sha256_update(&hash, secret, len);
        rr_sha256_final(&hash, block);
    } else if (len > 0) {
        memcpy(block, secret, len);
    }
    for (unsigned i = 0; i < RR_SHA256_BLOCK; ++i) pad[i] = block[i] ^ 0x36u;
    rr_sha256_init(&key->inner);
    rr_sha256_update(&key->inner, pad, sizeof pad);
    for (unsigned i = 0; i < RR_SHA256_BLOCK; ++i) pad[i] = block[i] ^ 0x5cu;
    rr_sha256_init(&key->outer);
    rr_sha256_update(&key->outer, pad, sizeof pad);
    memset(block, 0, sizeof block);
    memset(pad, 0, sizeof pad);
}

void rr_hmac_start(rr_hmac *mac, const rr_hmac_key *key) {
    mac->key = key;
    mac->inner = key->inner;
}

void rr_hmac_update(rr_hmac *mac, const uint8_t *data, size_t len) {
    rr_sha256_update(&mac->inner, data, len);
}

void rr_hmac_finish(rr_hmac *mac, uint8_t out[RR_SHA256_DIGEST]) {
    uint8_t inner[RR_SHA256_DIGEST];
    rr_sha256 outer = mac->key->outer;
    rr_sha256_final(&mac->inner, inner);
    rr_sha256_update(&outer, inner, sizeof inner);
    rr_sha256_final(&outer, out);
}

int rr_equal_ct(const uint8_t *a, const uint8_t *b, size_t len) {
    uint8_t diff = 0;
    for (size_t i = 0; i < len; ++i) diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}
