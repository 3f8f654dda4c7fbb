#include "rr_auth.h"

#include <string.h>

#ifdef RR_BENCH_NULL_MAC
/* Benchmark-only host build (make -C firmware bench): every tag is zero, i.e. NO authentication, to measure
 * what the MAC costs. Never on a target. */
#ifdef RR_TARGET_MCU
#error "RR_BENCH_NULL_MAC removes authentication: never build it for the microcontroller"
#endif
#endif

void rr_auth_init(rr_auth *auth, const uint8_t key[RR_KEY_SIZE]) {
    rr_hmac_key_init(&auth->key, key, RR_KEY_SIZE);
    memset(auth->session, 0, sizeof auth->session);
}

static void put_u64(uint8_t *out, uint64_t value) {
    for (unsigned i = 0; i < 8u; ++i) out[i] = (uint8_t)(value >> (8u * i));
}

void rr_auth_set_session(rr_auth *auth, uint64_t host_nonce, uint64_t firmware_nonce) {
    put_u64(auth->session, host_nonce);
    put_u64(auth->session + RR_NONCE_SIZE, firmware_nonce);
}

static void compute_tag(const rr_auth *auth, const uint8_t *session, uint8_t id, uint8_t len, const uint8_t *payload,
                        uint8_t tag[RR_TAG_SIZE]) {
#ifdef RR_BENCH_NULL_MAC
    (void)auth, (void)session, (void)id, (void)payload;
    memset(tag, 0, RR_TAG_SIZE);
    return;
#endif
    const uint8_t header[2] = {id, len};
    uint8_t digest[RR_SHA256_DIGEST];
    rr_hmac mac;
    rr_hmac_start(&mac, &auth->key);
    rr_hmac_update(&mac, session != NULL ? session : auth->session, RR_SESSION_SIZE);
    rr_hmac_update(&mac, header, sizeof header);
    rr_hmac_update(&mac, payload, (size_t)len - RR_TAG_SIZE);
    rr_hmac_finish(&mac, digest);
    memcpy(tag, digest, RR_TAG_SIZE);
}

size_t rr_seal(const rr_auth *auth, const uint8_t *session, uint8_t id, const uint8_t *body, size_t body_len,
               uint32_t counter, uint8_t *out, size_t cap) {
    uint8_t payload[RR_MAX_PAYLOAD];
    if (body_len > RR_MAX_PAYLOAD - RR_AUTH_TRAILER_SIZE) return 0;
    const uint8_t len = (uint8_t)(body_len + RR_AUTH_TRAILER_SIZE);
    if (body_len > 0) memcpy(payload, body, body_len);
    for (unsigned i = 0; i < RR_COUNTER_SIZE; ++i) payload[body_len + i] = (uint8_t)(counter >> (8u * i));
    compute_tag(auth, session, id, len, payload, payload + len - RR_TAG_SIZE);
    return rr_frame_encode(id, payload, len, out, cap);
}

bool rr_verify(const rr_auth *auth, const uint8_t *session, const rr_frame *frame) {
    uint8_t tag[RR_TAG_SIZE];
    if (frame->len < RR_AUTH_TRAILER_SIZE) return false;
    compute_tag(auth, session, frame->id, frame->len, frame->payload, tag);
    return rr_equal_ct(tag, frame->payload + frame->len - RR_TAG_SIZE, RR_TAG_SIZE) != 0;
}

uint32_t rr_frame_counter(const rr_frame *frame) {
    const uint8_t *at = frame->payload + frame->len - RR_AUTH_TRAILER_SIZE;
    return (uint32_t)at[0] | ((uint32_t)at[1] << 8) | ((uint32_t)at[2] << 16) | ((uint32_t)at[3] << 24);
}
