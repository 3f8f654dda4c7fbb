#include "rr_messages.h"

#include <string.h>

static void put_u16(uint8_t *out, uint16_t value) {
    out[0] = (uint8_t)(value & 0xFFu);
    out[1] = (uint8_t)(value >> 8);
}

static void put_u32(uint8_t *out, uint32_t value) {
    for (int i = 0; i < 4; ++i) out[i] = (uint8_t)(value >> (8 * i));
}

static void put_f32(uint8_t *out, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_u32(out, bits);
}

static void put_u64(uint8_t *out, uint64_t value) {
    for (int i = 0; i < 8; ++i) out[i] = (uint8_t)(value >> (8 * i));
}

static uint32_t get_u32(const uint8_t *in) {
    return (uint32_t)in[0] | ((uint32_t)in[1] << 8) | ((uint32_t)in[2] << 16) | ((uint32_t)in[3] << 24);
}

static float get_f32(const uint8_t *in) {
    const uint32_t bits = get_u32(in);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static void put_f32_array(uint8_t *out, const float *values, unsigned n) {
    for (unsigned j = 0; j < n; ++j) put_f32(out + 4u * j, values[j]);
}

bool rr_decode_torque_command(const rr_frame *frame, rr_torque_command *out) {
    if (frame->id != RR_MSG_TORQUE_COMMAND) return false;
    const unsigned n = frame->n_joints;
    out->sequence = get_u32(frame->payload + frame->len - RR_AUTH_TRAILER_SIZE);
    out->command_time_us = get_u32(frame->payload + RR_TORQUE_COMMAND_COMMAND_TIME_US_OFFSET);
    out->n_torques = (uint8_t)n;
    for (unsigned j = 0; j < n; ++j) {
        out->torque[j] = get_f32(frame->payload + RR_TORQUE_COMMAND_TORQUE_OFFSET(n) + 4u * j);
    }
    return true;
}

bool rr_decode_hello(const rr_frame *frame, uint64_t *host_nonce) {
    if (frame->id != RR_MSG_HELLO) return false;
    const uint8_t *in = frame->payload + RR_HELLO_HOST_NONCE_OFFSET;
    *host_nonce = (uint64_t)get_u32(in) | ((uint64_t)get_u32(in + 4) << 32);
    return true;
}

size_t rr_encode_hello_ack(const rr_config *config, uint64_t firmware_nonce, uint8_t *out) {
    const unsigned n = config->n_joints;
    put_u64(out + RR_HELLO_ACK_FIRMWARE_NONCE_OFFSET, firmware_nonce);
    put_u16(out + RR_HELLO_ACK_PROTOCOL_VERSION_OFFSET, RR_PROTOCOL_VERSION);
    put_u16(out + RR_HELLO_ACK_WATCHDOG_TIMEOUT_MS_OFFSET, config->watchdog_timeout_ms);
    put_f32_array(out + RR_HELLO_ACK_TORQUE_LIMIT_OFFSET(n), config->torque_limit, n);
    return RR_HELLO_ACK_FIXED_LEN + RR_HELLO_ACK_PER_JOINT_LEN * n;
}

size_t rr_encode_state(const rr_state_report *report, uint8_t *out) {
    const unsigned n = report->n_joints;
    put_u32(out + RR_STATE_SEQUENCE_OFFSET, report->sequence);
    put_u32(out + RR_STATE_TIME_US_OFFSET, report->time_us);
    put_u32(out + RR_STATE_COMMAND_TIME_US_OFFSET, report->command_time_us);
    put_u32(out + RR_STATE_LATCH_TIME_US_OFFSET, report->latch_time_us);
    put_u16(out + RR_STATE_STATUS_OFFSET, report->status);
    put_u16(out + RR_STATE_RX_REJECTED_OFFSET, report->rx_rejected);
    put_u16(out + RR_STATE_AUTH_REJECTED_OFFSET, report->auth_rejected);
    put_u16(out + RR_STATE_REPLAY_REJECTED_OFFSET, report->replay_rejected);
    put_u16(out + RR_STATE_STALE_REJECTED_OFFSET, report->stale_rejected);
    put_f32_array(out + RR_STATE_POSITION_OFFSET(n), report->position, n);
    put_f32_array(out + RR_STATE_VELOCITY_OFFSET(n), report->velocity, n);
    put_f32_array(out + RR_STATE_EFFORT_OFFSET(n), report->effort, n);
    return RR_STATE_FIXED_LEN + RR_STATE_PER_JOINT_LEN * n;
}
