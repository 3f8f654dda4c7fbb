/* Frame authentication: every frame's payload ends in counter u32 | tag, where
 *   tag = HMAC-SHA256(key, session nonce | id | len | payload without the tag)[:RR_TAG_SIZE].
 * The session nonce is the host's HELLO nonce | the firmware's HELLO_ACK nonce (little-endian u64
 * each); HELLO itself is tagged under the all-zero session nonce. */
#ifndef RR_AUTH_H
#define RR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rr_frame.h"
#include "rr_sha256.h"

#define RR_SESSION_SIZE (2u * RR_NONCE_SIZE)

typedef struct {
    rr_hmac_key key;                  /* HMAC key schedule of the shared key */
    uint8_t session[RR_SESSION_SIZE]; /* current session nonce (all zero: none yet) */
} rr_auth;

void rr_auth_init(rr_auth *auth, const uint8_t key[RR_KEY_SIZE]);

/* The session nonce host_nonce | firmware_nonce. */
void rr_auth_set_session(rr_auth *auth, uint64_t host_nonce, uint64_t firmware_nonce);

/* Frame id with body | counter | tag as its payload, under session (NULL: auth->session); returns the
 * frame length, 0 if the payload would exceed RR_MAX_PAYLOAD or cap. */
size_t rr_seal(const rr_auth *auth, const uint8_t *session, uint8_t id, const uint8_t *body, size_t body_len,
               uint32_t counter, uint8_t *out, size_t cap);

/* Whether the frame's tag is right under session (NULL: auth->session). Constant time in the tag. */
bool rr_verify(const rr_auth *auth, const uint8_t *session, const rr_frame *frame);

/* The counter of the trailer (the parser guarantees len >= RR_AUTH_TRAILER_SIZE). */
uint32_t rr_frame_counter(const rr_frame *frame);

#endif /* RR_AUTH_H */
