#include "rr_app.h"

#include <string.h>

#include "rr_messages.h"

static const uint8_t PRE_SESSION[RR_SESSION_SIZE] = {0};

const char *rr_app_init(rr_app *app, const rr_hal *hal, const rr_config *config, const uint8_t *key) {
    const char *error = rr_config_error(config);
    if (error != NULL) return error;
    memset(app, 0, sizeof *app);
    app->hal = hal;
    app->config = *config;
    rr_state_init(&app->state);
    rr_parser_init(&app->parser);
    rr_auth_init(&app->auth, key);
    return NULL;
}

static void send_sealed(rr_app *app, uint8_t id, const uint8_t *body, size_t body_len) {
    uint8_t frame[RR_FRAME_MAX];
    app->tx_counter += 1u;
    const size_t len = rr_seal(&app->auth, NULL, id, body, body_len, app->tx_counter, frame, sizeof frame);
    app->hal->serial_write(app->hal->ctx, frame, len);
}

static void open_session(rr_app *app, const rr_frame *frame) {
    uint64_t host_nonce = 0, firmware_nonce = 0;
    rr_decode_hello(frame, &host_nonce);
    if (app->session_open && host_nonce == app->host_nonce) { /* a replayed HELLO of this session */
        app->link.replay_rejected += 1u;
        return;
    }
    app->hal->random(app->hal->ctx, (uint8_t *)&firmware_nonce, sizeof firmware_nonce);
    rr_auth_set_session(&app->auth, host_nonce, firmware_nonce);
    app->session_open = true;
    app->host_nonce = host_nonce;
    app->rx_counter = 0;
    app->tx_counter = 0;
    uint8_t body[RR_MAX_PAYLOAD];
    send_sealed(app, RR_MSG_HELLO_ACK, body, rr_encode_hello_ack(&app->config, firmware_nonce, body));
}

static void apply(rr_app *app, const rr_frame *frame, uint32_t now_us) {
    rr_torque_command command;
    if (frame->id == RR_MSG_CLEAR_FAULT) {
        rr_clear_fault(&app->state);
    } else if (rr_decode_torque_command(frame, &command)) {
        if (rr_accept_command(&app->config, &app->state, &command, now_us) == RR_COMMAND_STALE) {
            app->link.stale_rejected += 1u;
        }
    }
}

/* Checks tag and counter of a host frame, then acts on it. */
static void handle_frame(rr_app *app, const rr_frame *frame, uint32_t now_us) {
    if (frame->id == RR_MSG_HELLO) {
        if (rr_verify(&app->auth, PRE_SESSION, frame)) open_session(app, frame);
        else app->link.auth_rejected += 1u;
        return;
    }
    if (!app->session_open || !rr_verify(&app->auth, NULL, frame)) {
        app->link.auth_rejected += 1u;
        return;
    }
    const uint32_t counter = rr_frame_counter(frame);
    if (counter <= app->rx_counter) {
        app->link.replay_rejected += 1u;
        return;
    }
    app->rx_counter = counter;
    apply(app, frame, now_us);
}

static bool from_host(const rr_frame *frame) {
    return frame->id == RR_MSG_HELLO || frame->id == RR_MSG_TORQUE_COMMAND || frame->id == RR_MSG_CLEAR_FAULT;
}

static void receive(rr_app *app, uint32_t now_us) {
    uint8_t chunk[64];
    rr_frame frame;
    size_t bytes_left = RR_APP_RX_BYTES_PER_TICK;
    unsigned macs_left = RR_APP_MACS_PER_TICK;
    for (;;) {
        while (macs_left > 0u && rr_parser_next(&app->parser, &frame)) {
            if (!from_host(&frame)) continue; /* the firmware's own messages echoed back: ignored */
            macs_left -= 1u;
            handle_frame(app, &frame, now_us);
        }
        const size_t room = RR_PARSER_CAPACITY - app->parser.used;
        size_t cap = bytes_left < sizeof chunk ? bytes_left : sizeof chunk;
        cap = cap < room ? cap : room;
        if (macs_left == 0u || cap == 0u) return;
        const size_t got = app->hal->serial_read(app->hal->ctx, chunk, cap);
        if (got == 0u) return;
        bytes_left -= got;
        rr_parser_feed(&app->parser, chunk, got);
    }
}

static void send_state(rr_app *app, const rr_inputs *inputs) {
    const rr_state_report report = {
        .sequence = app->state.sequence,
        .time_us = inputs->now_us,
        .command_time_us = app->state.command_time_us,
        .latch_time_us = app->state.latch_time_us,
        .status = (uint16_t)(app->outputs.status | (app->session_open ? RR_STATUS_SESSION_OPEN : 0u)),
        .rx_rejected = (uint16_t)rr_parser_rejected(&app->parser),
        .auth_rejected = (uint16_t)app->link.auth_rejected,
        .replay_rejected = (uint16_t)app->link.replay_rejected,
        .stale_rejected = (uint16_t)app->link.stale_rejected,
        .n_joints = app->config.n_joints,
        .position = inputs->position,
        .velocity = inputs->velocity,
        .effort = app->outputs.torque,
    };
    uint8_t body[RR_MAX_PAYLOAD];
    send_sealed(app, RR_MSG_STATE, body, rr_encode_state(&report, body));
}

void rr_app_tick(rr_app *app) {
    const rr_hal *hal = app->hal;
    rr_inputs inputs;
    memset(&inputs, 0, sizeof inputs);
    inputs.now_us = hal->now_us(hal->ctx);
    receive(app, inputs.now_us);
    hal->read_encoders(hal->ctx, app->config.n_joints, inputs.position, inputs.velocity);
    rr_step(&app->config, &app->state, &inputs, &app->outputs);
    hal->write_torques(hal->ctx, app->config.n_joints, app->outputs.torque);
    send_state(app, &inputs);
}
