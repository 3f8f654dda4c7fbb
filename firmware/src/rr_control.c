#include "rr_control.h"

#include <math.h>
#include <string.h>

const char *rr_config_error(const rr_config *config) {
    if (config->n_joints < 1u || config->n_joints > RR_MAX_JOINTS) return "n_joints must be in [1, RR_MAX_JOINTS]";
    if (config->watchdog_timeout_ms == 0u) return "watchdog_timeout_ms must be > 0";
    for (unsigned j = 0; j < config->n_joints; ++j) {
        if (!(isfinite(config->torque_limit[j]) && config->torque_limit[j] > 0.0f)) {
            return "torque_limit must be finite and > 0 Nm on every joint";
        }
        if (!(isfinite(config->brake_damping[j]) && config->brake_damping[j] >= 0.0f)) {
            return "brake_damping must be finite and >= 0 Nm s/rad on every joint";
        }
    }
    return NULL;
}

void rr_state_init(rr_state *state) {
    memset(state, 0, sizeof *state);
}

static bool latched(const rr_state *state) {
    return state->watchdog_tripped || state->fault_latched;
}

static bool all_finite(const float *values, unsigned n) {
    for (unsigned j = 0; j < n; ++j) {
        if (!isfinite(values[j])) return false;
    }
    return true;
}

bool rr_older_than_timeout(const rr_config *config, uint32_t time_us, uint32_t now_us) {
    return now_us - time_us > (uint32_t)config->watchdog_timeout_ms * 1000u; /* modulo 2^32: wrap-safe */
}

rr_command_result rr_accept_command(const rr_config *config, rr_state *state, const rr_torque_command *command,
                                    uint32_t now_us) {
    if (command->n_torques != config->n_joints) {
        state->bad_command = true;
        return RR_COMMAND_BAD;
    }
    if (!all_finite(command->torque, config->n_joints)) {
        state->bad_command = true;
        state->fault_latched = true;
        memset(state->command, 0, sizeof state->command);
        return RR_COMMAND_BAD;
    }
    if (rr_older_than_timeout(config, command->command_time_us, now_us)) return RR_COMMAND_STALE;
    state->bad_command = false;
    if (latched(state)) return RR_COMMAND_LATCHED;
    memcpy(state->command, command->torque, sizeof(float) * config->n_joints);
    state->sequence = command->sequence;
    state->command_time_us = command->command_time_us;
    state->armed = true;
    return RR_COMMAND_APPLIED;
}

void rr_clear_fault(rr_state *state) {
    state->watchdog_tripped = false;
    state->fault_latched = false;
    state->bad_command = false;
    state->armed = false;
    state->latch_timed = false;
    state->latch_time_us = 0;
    memset(state->command, 0, sizeof state->command);
}

static void check_watchdog(const rr_config *config, rr_state *state, uint32_t now_us) {
    if (state->armed && rr_older_than_timeout(config, state->command_time_us, now_us)) {
        state->watchdog_tripped = true;
    }
}

static float desired_torque(const rr_config *config, const rr_state *state, const rr_inputs *inputs, unsigned j) {
    if (latched(state)) return -config->brake_damping[j] * inputs->velocity[j];
    return state->armed ? state->command[j] : 0.0f;
}

static uint16_t status_bits(const rr_state *state, bool clamped) {
    return (uint16_t)((state->watchdog_tripped ? RR_STATUS_WATCHDOG_TRIPPED : 0u)
                      | (state->fault_latched ? RR_STATUS_FAULT_LATCHED : 0u)
                      | (clamped ? RR_STATUS_COMMAND_CLAMPED : 0u)
                      | (state->bad_command ? RR_STATUS_BAD_COMMAND : 0u)
                      | (state->armed ? RR_STATUS_ARMED : 0u));
}

void rr_step(const rr_config *config, rr_state *state, const rr_inputs *inputs, rr_outputs *outputs) {
    const unsigned n = config->n_joints;
    if (!all_finite(inputs->position, n) || !all_finite(inputs->velocity, n)) state->fault_latched = true;
    check_watchdog(config, state, inputs->now_us);
    if (latched(state) && !state->latch_timed) {
        state->latch_timed = true;
        state->latch_time_us = inputs->now_us;
    }
    bool clamped = false;
    for (unsigned j = 0; j < n; ++j) {
        const float limit = config->torque_limit[j];
        float torque = desired_torque(config, state, inputs, j);
        if (!isfinite(torque)) torque = 0.0f; /* a non-finite velocity while braking */
        if (torque > limit || torque < -limit) {
            torque = torque > 0.0f ? limit : -limit;
            clamped = true;
        }
        outputs->torque[j] = torque;
    }
    outputs->status = status_bits(state, clamped);
}
