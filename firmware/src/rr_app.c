#include "rr_app.h"

#include <string.h>

#include "rr_messages.h"

const char *rr_app_init(rr_app *app, const rr_hal *hal, const rr_config *config) {
    const char *error = rr_config_error(config);
    if (error != NULL) return error;
    memset(app, 0, sizeof *app);
    app->hal = hal;
    app->config = *config;
    rr_state_init(&app->state);
    rr_parser_init(&app->parser);
    return NULL;
}

static void send_info(rr_app *app) {
    uint8_t frame[RR_FRAME_MAX];
    const size_t len = rr_encode_info(&app->config, frame, sizeof frame);
    app->hal->serial_write(app->hal->ctx, frame, len);
}

static void handle_frame(rr_app *app, const rr_frame *frame, uint32_t now_us) {
    rr_torque_command command;
    switch (frame->id) {
    case RR_MSG_REQUEST_INFO: send_info(app); break;
    case RR_MSG_CLEAR_FAULT: rr_clear_fault(&app->state); break;
    case RR_MSG_TORQUE_COMMAND:
        rr_decode_torque_command(frame, &command);
        rr_accept_command(&app->config, &app->state, &command, now_us);
        break;
    default: break; /* firmware -> host messages: nothing to do */
    }
}

static void receive(rr_app *app, uint32_t now_us) {
    uint8_t chunk[64];
    rr_frame frame;
    for (size_t total = 0; total < RR_APP_RX_BYTES_PER_TICK;) {
        const size_t got = app->hal->serial_read(app->hal->ctx, chunk, sizeof chunk);
        if (got == 0) break;
        total += got;
        for (size_t fed = 0; fed < got;) {
            fed += rr_parser_feed(&app->parser, chunk + fed, got - fed);
            while (rr_parser_next(&app->parser, &frame)) handle_frame(app, &frame, now_us);
        }
    }
}

static void send_state(rr_app *app, const rr_inputs *inputs) {
    const rr_state_report report = {
        .sequence = app->state.sequence,
        .time_us = inputs->now_us,
        .status = app->outputs.status,
        .rx_rejected = (uint16_t)rr_parser_rejected(&app->parser),
        .n_joints = app->config.n_joints,
        .position = inputs->position,
        .velocity = inputs->velocity,
        .effort = app->outputs.torque,
    };
    uint8_t frame[RR_FRAME_MAX];
    const size_t len = rr_encode_state(&report, frame, sizeof frame);
    app->hal->serial_write(app->hal->ctx, frame, len);
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
