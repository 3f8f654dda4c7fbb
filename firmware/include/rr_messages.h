/* Message payloads <-> C structs, little-endian, with the offsets of rr_protocol_gen.h. */
#ifndef RR_MESSAGES_H
#define RR_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rr_control.h"
#include "rr_frame.h"

typedef struct {
    uint16_t sequence;    /* of the last applied command */
    uint32_t time_us;     /* firmware time */
    uint16_t status;      /* RR_STATUS_* */
    uint16_t rx_rejected; /* frames the firmware's parser rejected (wraps) */
    uint8_t n_joints;
    const float *position; /* rad, n_joints */
    const float *velocity; /* rad/s, n_joints */
    const float *effort;   /* Nm, n_joints */
} rr_state_report;

/* TORQUE_COMMAND frame -> command (n_torques from the frame); false for another message id. */
bool rr_decode_torque_command(const rr_frame *frame, rr_torque_command *out);

/* Whole INFO / STATE frames into out; return the frame length, 0 if cap is too small. */
size_t rr_encode_info(const rr_config *config, uint8_t *out, size_t cap);
size_t rr_encode_state(const rr_state_report *report, uint8_t *out, size_t cap);

#endif /* RR_MESSAGES_H */
