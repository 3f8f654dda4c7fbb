/* rr_step / rr_accept_command / rr_clear_fault: clamping, non-finite commands, watchdog latch. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "rr_control.h"

static rr_config two_joints(void) {
    rr_config config;
    memset(&config, 0, sizeof config);
    config.n_joints = 2;
    config.torque_limit[0] = 2.0f;
    config.torque_limit[1] = 5.0f;
    config.brake_damping[0] = config.brake_damping[1] = 0.5f;
    config.watchdog_timeout_ms = 10;
    return config;
}

static rr_torque_command command(uint32_t sequence, float t0, float t1) {
    rr_torque_command c = {sequence, 0u, 2, {t0, t1}};
    return c;
}

/* The command arrives at now_us, sent at now_us (its command_time_us). */
static rr_command_result accept_now(const rr_config *config, rr_state *state, rr_torque_command *c, uint32_t now_us) {
    c->command_time_us = now_us;
    return rr_accept_command(config, state, c, now_us);
}

static rr_outputs step_at(const rr_config *config, rr_state *state, uint32_t now_us, float v0) {
    rr_inputs inputs;
    rr_outputs outputs;
    memset(&inputs, 0, sizeof inputs);
    inputs.now_us = now_us;
    inputs.velocity[0] = v0;
    rr_step(config, state, &inputs, &outputs);
    return outputs;
}

static void test_config_validation(void) {
    rr_config config = two_joints();
    CHECK(rr_config_error(&config) == NULL);
    config.torque_limit[1] = 0.0f;
    CHECK(rr_config_error(&config) != NULL);
    config = two_joints();
    config.brake_damping[0] = NAN;
    CHECK(rr_config_error(&config) != NULL);
    config = two_joints();
    config.n_joints = RR_MAX_JOINTS + 1;
    CHECK(rr_config_error(&config) != NULL);
    config = two_joints();
    config.watchdog_timeout_ms = 0;
    CHECK(rr_config_error(&config) != NULL);
}

static void test_zero_torque_before_first_command(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    const rr_outputs out = step_at(&config, &state, 1000000u, 3.0f);
    CHECK(out.torque[0] == 0.0f && out.torque[1] == 0.0f);
    CHECK(out.status == 0u); /* not armed: no watchdog trip however long it waits */
}

static void test_command_applied_and_clamped(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = command(7, 1.5f, -4.0f);
    accept_now(&config, &state, &c, 0u);
    rr_outputs out = step_at(&config, &state, 1000u, 0.0f);
    CHECK(out.torque[0] == 1.5f && out.torque[1] == -4.0f);
    CHECK(out.status == RR_STATUS_ARMED && state.sequence == 7u);
    c = command(8, 3.0f, -9.0f);
    accept_now(&config, &state, &c, 2000u);
    out = step_at(&config, &state, 2000u, 0.0f);
    CHECK(out.torque[0] == 2.0f && out.torque[1] == -5.0f);
    CHECK((out.status & RR_STATUS_COMMAND_CLAMPED) != 0u);
}

static void test_non_finite_command_latches_fault(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = command(1, 1.0f, 1.0f);
    accept_now(&config, &state, &c, 0u);
    c = command(2, INFINITY, 0.0f);
    accept_now(&config, &state, &c, 1000u);
    rr_outputs out = step_at(&config, &state, 1000u, 2.0f);
    CHECK((out.status & RR_STATUS_FAULT_LATCHED) && (out.status & RR_STATUS_BAD_COMMAND));
    CHECK(out.torque[0] == -1.0f && out.torque[1] == 0.0f); /* brake: -0.5 Nm s/rad x 2 rad/s */
    c = command(3, 1.0f, 1.0f);
    accept_now(&config, &state, &c, 2000u);
    out = step_at(&config, &state, 2000u, 0.0f);
    CHECK((out.status & RR_STATUS_FAULT_LATCHED) && state.sequence == 1u); /* still latched, not applied */
}

static void test_wrong_joint_count_is_ignored(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = {4, 0u, 3, {1.0f, 1.0f, 1.0f}};
    accept_now(&config, &state, &c, 0u);
    const rr_outputs out = step_at(&config, &state, 1000u, 0.0f);
    CHECK(out.status == RR_STATUS_BAD_COMMAND && out.torque[0] == 0.0f && !state.fault_latched);
}

static void test_watchdog_latches_until_clear_fault(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = command(1, 1.0f, 1.0f);
    accept_now(&config, &state, &c, 0u);
    CHECK(!(step_at(&config, &state, 10000u, 0.0f).status & RR_STATUS_WATCHDOG_TRIPPED)); /* exactly the timeout */
    rr_outputs out = step_at(&config, &state, 10001u, 4.0f);
    CHECK((out.status & RR_STATUS_WATCHDOG_TRIPPED) && out.torque[0] == -2.0f && out.torque[1] == 0.0f);
    c = command(2, 1.0f, 1.0f);
    accept_now(&config, &state, &c, 11000u);
    out = step_at(&config, &state, 11000u, 0.0f);
    CHECK((out.status & RR_STATUS_WATCHDOG_TRIPPED) && out.torque[1] == 0.0f); /* a command does not clear it */
    rr_clear_fault(&state);
    out = step_at(&config, &state, 50000u, 0.0f);
    CHECK(out.status == 0u && out.torque[1] == 0.0f); /* cleared, disarmed, zero torque */
    accept_now(&config, &state, &c, 50000u);
    out = step_at(&config, &state, 51000u, 0.0f);
    CHECK(out.status == RR_STATUS_ARMED && out.torque[1] == 1.0f);
}

static void test_watchdog_survives_clock_wrap(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = command(1, 1.0f, 1.0f);
    accept_now(&config, &state, &c, 0xFFFFF000u);
    CHECK(!(step_at(&config, &state, 0x00001000u, 0.0f).status & RR_STATUS_WATCHDOG_TRIPPED)); /* 8.2 ms later */
    CHECK(step_at(&config, &state, 0x00003000u, 0.0f).status & RR_STATUS_WATCHDOG_TRIPPED);  /* 16.4 ms later */
}

static void test_command_age_is_judged_on_its_send_time(void) {
    const rr_config config = two_joints(); /* 10 ms timeout */
    rr_state state;
    rr_state_init(&state);
    rr_torque_command c = command(1, 1.0f, 1.0f);
    c.command_time_us = 5000u;
    CHECK(rr_accept_command(&config, &state, &c, 15000u) == RR_COMMAND_APPLIED); /* exactly 10 ms old */
    CHECK(!(step_at(&config, &state, 15000u, 0.0f).status & RR_STATUS_WATCHDOG_TRIPPED));
    CHECK(step_at(&config, &state, 15001u, 0.0f).status & RR_STATUS_WATCHDOG_TRIPPED); /* age, not arrival */
    rr_clear_fault(&state);
    c = command(2, 1.0f, 1.0f);
    c.command_time_us = 20000u;
    CHECK(rr_accept_command(&config, &state, &c, 30001u) == RR_COMMAND_STALE); /* arrived too late */
    CHECK(state.sequence == 1u && !state.armed);
    c.command_time_us = 30002u; /* from the future */
    CHECK(rr_accept_command(&config, &state, &c, 30001u) == RR_COMMAND_STALE);
    c.command_time_us = 30001u;
    CHECK(rr_accept_command(&config, &state, &c, 30001u) == RR_COMMAND_APPLIED && state.command_time_us == 30001u);
}

static void test_non_finite_measurement_latches_fault(void) {
    const rr_config config = two_joints();
    rr_state state;
    rr_state_init(&state);
    const rr_outputs out = step_at(&config, &state, 0u, NAN);
    CHECK((out.status & RR_STATUS_FAULT_LATCHED) && out.torque[0] == 0.0f);
}

void test_control(void) {
    test_config_validation();
    test_zero_torque_before_first_command();
    test_command_applied_and_clamped();
    test_non_finite_command_latches_fault();
    test_wrong_joint_count_is_ignored();
    test_watchdog_latches_until_clear_fault();
    test_watchdog_survives_clock_wrap();
    test_command_age_is_judged_on_its_send_time();
    test_non_finite_measurement_latches_fault();
}
