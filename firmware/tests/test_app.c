/* rr_app_tick against an in-memory HAL: frames in, torques and STATE frames out. */
#include <string.h>

#include "check.h"
#include "rr_app.h"
#include "rr_messages.h"

typedef struct {
    uint32_t now_us;
    float torque[RR_MAX_JOINTS];
    uint8_t rx[512];
    size_t rx_len, rx_pos;
    rr_parser tx; /* parses what the firmware sent */
} fake_hal;

static uint32_t fake_now(void *ctx) { return ((fake_hal *)ctx)->now_us; }

static void fake_encoders(void *ctx, unsigned n, float *position, float *velocity) {
    (void)ctx;
    for (unsigned j = 0; j < n; ++j) position[j] = velocity[j] = 0.0f;
}

static void fake_torques(void *ctx, unsigned n, const float *torque) {
    memcpy(((fake_hal *)ctx)->torque, torque, sizeof(float) * n);
}

static size_t fake_read(void *ctx, uint8_t *buf, size_t cap) {
    fake_hal *fake = ctx;
    const size_t left = fake->rx_len - fake->rx_pos, take = left < cap ? left : cap;
    memcpy(buf, fake->rx + fake->rx_pos, take);
    fake->rx_pos += take;
    return take;
}

static void fake_write(void *ctx, const uint8_t *frame, size_t len) {
    CHECK(rr_parser_feed(&((fake_hal *)ctx)->tx, frame, len) == len);
}

static void queue(fake_hal *fake, uint8_t id, const uint8_t *payload, uint8_t len) {
    fake->rx_len += rr_frame_encode(id, payload, len, fake->rx + fake->rx_len, sizeof fake->rx - fake->rx_len);
}

/* The last frame with this id the firmware sent since the previous call. */
static int last_sent(fake_hal *fake, uint8_t id, rr_frame *out) {
    rr_frame frame;
    int found = 0;
    while (rr_parser_next(&fake->tx, &frame)) {
        if (frame.id == id) { *out = frame; found = 1; }
    }
    return found;
}

static uint16_t state_status(const rr_frame *frame) {
    return (uint16_t)(frame->payload[RR_STATE_STATUS_OFFSET] | (frame->payload[RR_STATE_STATUS_OFFSET + 1] << 8));
}

void test_app(void) {
    static fake_hal fake;
    static rr_app app;
    memset(&fake, 0, sizeof fake);
    rr_parser_init(&fake.tx);
    const rr_hal hal = {&fake, fake_now, fake_encoders, fake_torques, fake_read, fake_write};
    rr_config config = {.n_joints = 1, .torque_limit = {1.0f}, .brake_damping = {0.0f}, .watchdog_timeout_ms = 5};
    CHECK(rr_app_init(&app, &hal, &config) == NULL);
    const uint8_t command[6] = {0x09, 0x00, 0x00, 0x00, 0x00, 0x40}; /* sequence 9, 2.0 Nm */
    queue(&fake, RR_MSG_REQUEST_INFO, NULL, 0);
    queue(&fake, RR_MSG_TORQUE_COMMAND, command, sizeof command);
    rr_app_tick(&app);
    rr_frame frame;
    memset(&frame, 0, sizeof frame);
    CHECK(last_sent(&fake, RR_MSG_INFO, &frame) && frame.n_joints == 1u);
    CHECK(fake.torque[0] == 1.0f); /* clamped to the 1 Nm limit */
    fake.tx.used = 0;
    fake.now_us = 6000u; /* past the 5 ms watchdog */
    rr_app_tick(&app);
    CHECK(last_sent(&fake, RR_MSG_STATE, &frame) && (state_status(&frame) & RR_STATUS_WATCHDOG_TRIPPED));
    CHECK(frame.payload[RR_STATE_SEQUENCE_OFFSET] == 9u && fake.torque[0] == 0.0f);
    queue(&fake, RR_MSG_CLEAR_FAULT, NULL, 0);
    rr_app_tick(&app);
    CHECK(last_sent(&fake, RR_MSG_STATE, &frame) && state_status(&frame) == 0u);
    config.n_joints = 0;
    CHECK(rr_app_init(&app, &hal, &config) != NULL);
}
