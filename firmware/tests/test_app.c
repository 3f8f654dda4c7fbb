/* rr_app_tick against an in-memory HAL: sealed frames in, torques and sealed STATE frames out. */
#include <string.h>

#include "check.h"
#include "rr_app.h"
#include "rr_messages.h"

typedef struct {
    uint32_t now_us;
    float torque[RR_MAX_JOINTS];
    uint8_t rx[8192];
    size_t rx_len, rx_pos;
    rr_parser tx; /* parses what the firmware sent */
    uint8_t next_random;
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

static void fake_random(void *ctx, uint8_t *buf, size_t len) {
    for (size_t i = 0; i < len; ++i) buf[i] = ((fake_hal *)ctx)->next_random++;
}

static void queue(fake_hal *fake, const rr_auth *auth, const uint8_t *session, uint8_t id, const uint8_t *body,
                  size_t len, uint32_t counter) {
    fake->rx_len += rr_seal(auth, session, id, body, len, counter, fake->rx + fake->rx_len,
                            sizeof fake->rx - fake->rx_len);
}

static void queue_command(fake_hal *fake, const rr_auth *auth, uint32_t counter, uint32_t sent_us, float torque) {
    uint8_t body[8];
    memcpy(body, &sent_us, 4); /* little-endian host, as the target */
    memcpy(body + 4, &torque, 4);
    queue(fake, auth, NULL, RR_MSG_TORQUE_COMMAND, body, sizeof body, counter);
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

static uint16_t u16_at(const rr_frame *frame, unsigned offset) {
    return (uint16_t)(frame->payload[offset] | (frame->payload[offset + 1] << 8));
}

static uint64_t u64_at(const rr_frame *frame, unsigned offset) {
    uint64_t value = 0;
    for (unsigned i = 0; i < 8u; ++i) value |= (uint64_t)frame->payload[offset + i] << (8u * i);
    return value;
}

static void tick(rr_app *app, fake_hal *fake, uint32_t now_us) {
    fake->now_us = now_us;
    rr_app_tick(app);
}

/* HELLO, then the HELLO_ACK it answers: host (the test's rr_auth) and firmware share the session. */
static void open_session(rr_app *app, fake_hal *fake, rr_auth *host) {
    static const uint8_t pre_session[RR_SESSION_SIZE] = {0};
    const uint8_t hello[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    queue(fake, host, pre_session, RR_MSG_HELLO, hello, sizeof hello, 0u);
    tick(app, fake, 1000u);
    rr_frame ack;
    CHECK(last_sent(fake, RR_MSG_HELLO_ACK, &ack) && ack.n_joints == 1u);
    rr_auth_set_session(host, 0x0807060504030201ull, u64_at(&ack, RR_HELLO_ACK_FIRMWARE_NONCE_OFFSET));
    CHECK(rr_verify(host, NULL, &ack) && !rr_verify(host, pre_session, &ack));
    const uint32_t replays = app->link.replay_rejected;
    queue(fake, host, pre_session, RR_MSG_HELLO, hello, sizeof hello, 0u); /* the same HELLO again */
    tick(app, fake, 1500u);
    CHECK(app->link.replay_rejected == replays + 1u && memcmp(app->auth.session, host->session, RR_SESSION_SIZE) == 0);
    CHECK(!last_sent(fake, RR_MSG_HELLO_ACK, &ack)); /* no new session */
}

static void test_session_replay_and_watchdog(void) {
    static fake_hal fake;
    static rr_app app;
    memset(&fake, 0, sizeof fake);
    rr_parser_init(&fake.tx);
    const rr_hal hal = {&fake, fake_now, fake_encoders, fake_torques, fake_read, fake_write, fake_random};
    rr_config config = {.n_joints = 1, .torque_limit = {1.0f}, .brake_damping = {0.0f}, .watchdog_timeout_ms = 5};
    uint8_t key[RR_KEY_SIZE] = {9, 8, 7};
    rr_auth host, attacker;
    CHECK(rr_app_init(&app, &hal, &config, key) == NULL);
    rr_auth_init(&host, key);
    queue_command(&fake, &host, 1u, 0u, 2.0f); /* before any session: refused */
    tick(&app, &fake, 0u);
    CHECK(app.link.auth_rejected == 1u && fake.torque[0] == 0.0f);
    open_session(&app, &fake, &host);
    const size_t start = fake.rx_len;
    queue_command(&fake, &host, 1u, 1000u, 2.0f);
    uint8_t captured[64];
    const size_t captured_len = fake.rx_len - start;
    memcpy(captured, fake.rx + start, captured_len);
    tick(&app, &fake, 2000u);
    CHECK(fake.torque[0] == 1.0f && app.state.sequence == 1u); /* clamped to the 1 Nm limit */
    memcpy(fake.rx + fake.rx_len, captured, captured_len); /* the captured frame, replayed */
    fake.rx_len += captured_len;
    queue(&fake, &host, NULL, RR_MSG_CLEAR_FAULT, NULL, 0, 1u); /* a new frame reusing counter 1 */
    tick(&app, &fake, 3000u);
    CHECK(app.link.replay_rejected == 3u && app.link.auth_rejected == 1u); /* + the replayed HELLO */
    memcpy(&attacker, &host, sizeof host);
    const uint8_t wrong_key[RR_KEY_SIZE] = {1};
    rr_hmac_key_init(&attacker.key, wrong_key, sizeof wrong_key);
    queue_command(&fake, &attacker, 50u, 3000u, -1.0f); /* right session, wrong key */
    tick(&app, &fake, 4000u);
    CHECK(app.link.auth_rejected == 2u && fake.torque[0] == 1.0f);
    fake.tx.used = 0;
    tick(&app, &fake, 6001u); /* the command sent at 1000 us is now 5.001 ms old */
    rr_frame state;
    CHECK(last_sent(&fake, RR_MSG_STATE, &state) && rr_verify(&host, NULL, &state));
    CHECK((u16_at(&state, RR_STATE_STATUS_OFFSET) & RR_STATUS_WATCHDOG_TRIPPED) && fake.torque[0] == 0.0f);
    CHECK(u16_at(&state, RR_STATE_AUTH_REJECTED_OFFSET) == 2u && u16_at(&state, RR_STATE_REPLAY_REJECTED_OFFSET) == 3u);
    queue(&fake, &attacker, NULL, RR_MSG_CLEAR_FAULT, NULL, 0, 60u); /* a keyless CLEAR_FAULT: refused */
    tick(&app, &fake, 7000u);
    CHECK(app.state.watchdog_tripped && app.link.auth_rejected == 3u);
    queue(&fake, &host, NULL, RR_MSG_CLEAR_FAULT, NULL, 0, 2u);
    queue_command(&fake, &host, 3u, 6000u, 0.5f); /* 2 ms old on arrival: fresh enough */
    queue_command(&fake, &host, 4u, 1000u, 0.7f); /* 7 ms old: stale, not applied */
    tick(&app, &fake, 8000u);
    CHECK(!app.state.watchdog_tripped && fake.torque[0] == 0.5f && app.link.stale_rejected == 1u);
    config.n_joints = 0;
    CHECK(rr_app_init(&app, &hal, &config, key) != NULL);
}

static void test_rx_work_per_tick_is_bounded(void) {
    static fake_hal fake;
    static rr_app app;
    memset(&fake, 0, sizeof fake);
    rr_parser_init(&fake.tx);
    const rr_hal hal = {&fake, fake_now, fake_encoders, fake_torques, fake_read, fake_write, fake_random};
    const rr_config config = {.n_joints = 1, .torque_limit = {1.0f}, .watchdog_timeout_ms = 5};
    const uint8_t key[RR_KEY_SIZE] = {1}, forged_key[RR_KEY_SIZE] = {2};
    rr_auth host, forger;
    CHECK(rr_app_init(&app, &hal, &config, key) == NULL);
    rr_auth_init(&host, key);
    open_session(&app, &fake, &host);
    memcpy(&forger, &host, sizeof host);
    rr_hmac_key_init(&forger.key, forged_key, sizeof forged_key);
    for (uint32_t i = 0; i < 200u; ++i) queue(&fake, &forger, NULL, RR_MSG_CLEAR_FAULT, NULL, 0, 100u + i);
    const size_t before = fake.rx_pos;
    tick(&app, &fake, 2000u);
    CHECK(app.link.auth_rejected <= RR_APP_MACS_PER_TICK && fake.rx_pos - before <= RR_APP_RX_BYTES_PER_TICK);
    for (uint32_t t = 3u; fake.rx_pos < fake.rx_len && t < 1000u; ++t) {
        fake.tx.used = 0; /* the STATE frames are not looked at here */
        tick(&app, &fake, t * 1000u);
    }
    CHECK(app.link.auth_rejected == 200u); /* every forged frame checked and refused, a bounded share per tick */
}

void test_app(void) {
    test_session_replay_and_watchdog();
    test_rx_work_per_tick_is_bounded();
}
