/* Message payloads <-> C structs, little-endian, with the offsets of rr_protocol_gen.h. Encoders write
 * the body (fields and joint arrays, without the authentication trailer: rr_seal adds it). */
#ifndef RR_MESSAGES_H
#define RR_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rr_control.h"
#include "rr_frame.h"

typedef struct {
    uint32_t sequence;        /* counter of the last applied command */
    uint32_t time_us;         /* firmware time */
    uint32_t command_time_us; /* send time of the applied command */
    uint32_t latch_time_us;   /* when the current latch was set (0: none) */
    uint16_t status;          /* RR_STATUS_* */
    uint16_t rx_rejected;     /* frames the firmware's parser rejected (wraps) */
    uint16_t auth_rejected;   /* wrong tag (wraps) */
    uint16_t replay_rejected; /* counter not increasing (wraps) */
    uint16_t stale_rejected;  /* command older than the timeout (wraps) */
    uint8_t n_joints;
    const float *position; /* rad, n_joints */
    const float *velocity; /* rad/s, n_joints */
    const float *effort;   /* Nm, n_joints */
} rr_state_report;

/* TORQUE_COMMAND frame -> command (n_torques from the frame, sequence = its counter); false for another id. */
bool rr_decode_torque_command(const rr_frame *frame, rr_torque_command *out);

/* HELLO frame -> the host's nonce half; false for another id. */
bool rr_decode_hello(const rr_frame *frame, uint64_t *host_nonce);

/* Bodies into out (RR_MAX_PAYLOAD bytes); return the body length. */
size_t rr_encode_hello_ack(const rr_config *config, uint64_t firmware_nonce, uint8_t *out);
size_t rr_encode_state(const rr_state_report *report, uint8_t *out);

#endif /* RR_MESSAGES_H */
