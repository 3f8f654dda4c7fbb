#define _POSIX_C_SOURCE 200809L
#include "host_options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_motor.h"

static int parse_float(const char *text, float *out) {
    char *end = NULL;
    errno = 0;
    const float value = strtof(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value)) return -1;
    *out = value;
    return 0;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out) {
    char *end = NULL;
    errno = 0;
    const unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > max) return -1;
    *out = value;
    return 0;
}

/* "L" or "L1,..,Ln" into values; returns how many were given, -1 on a bad number. */
static int parse_list(const char *text, float *values, unsigned cap) {
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    int count = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if ((unsigned)count >= cap || parse_float(item, &values[count]) != 0) return -1;
        ++count;
    }
    return count;
}

static void set_defaults(host_options *out) {
    memset(out, 0, sizeof *out);
    out->config.watchdog_timeout_ms = 100;
    out->inertia = SIM_MOTOR_INERTIA;
    out->damping = SIM_MOTOR_DAMPING;
    for (unsigned j = 0; j < RR_MAX_JOINTS; ++j) {
        out->config.torque_limit[j] = 10.0f;
        out->config.brake_damping[j] = 0.5f;
    }
}

static int fill_limits(host_options *out, const float *limits, int count, char *error, unsigned size) {
    const unsigned n = out->config.n_joints;
    if (count != 1 && count != (int)n) {
        snprintf(error, size, "--limits: give 1 value or %u (one per joint), got %d", n, count);
        return -1;
    }
    for (unsigned j = 0; j < n; ++j) out->config.torque_limit[j] = limits[count == 1 ? 0 : j];
    return 0;
}

static int parse_pair(const char *flag, const char *value, host_options *out, float *limits, int *n_limits) {
    unsigned long number = 0;
    float real = 0.0f;
    if (strcmp(flag, "--joints") == 0 && parse_uint(value, RR_MAX_JOINTS, &number) == 0) {
        out->config.n_joints = (uint8_t)number;
    } else if (strcmp(flag, "--limits") == 0) {
        *n_limits = parse_list(value, limits, RR_MAX_JOINTS);
        return *n_limits < 1 ? -1 : 0;
    } else if (strcmp(flag, "--watchdog-ms") == 0 && parse_uint(value, 65535, &number) == 0) {
        out->config.watchdog_timeout_ms = (uint16_t)number;
    } else if (strcmp(flag, "--brake-damping") == 0 && parse_float(value, &real) == 0) {
        for (unsigned j = 0; j < RR_MAX_JOINTS; ++j) out->config.brake_damping[j] = real;
    } else if (strcmp(flag, "--inertia") == 0 && parse_float(value, &real) == 0 && real > 0.0f) {
        out->inertia = real;
    } else if (strcmp(flag, "--damping") == 0 && parse_float(value, &real) == 0 && real >= 0.0f) {
        out->damping = real;
    } else if (strcmp(flag, "--line-noise-every") == 0 && parse_uint(value, 1000000, &number) == 0) {
        out->line_noise_every = (uint32_t)number;
    } else {
        return -1;
    }
    return 0;
}

int host_options_parse(int argc, char **argv, host_options *out, char *error, unsigned error_size) {
    float limits[RR_MAX_JOINTS];
    int n_limits = 0;
    set_defaults(out);
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || parse_pair(argv[i], argv[i + 1], out, limits, &n_limits) != 0) {
            snprintf(error, error_size, "bad option %s %s", argv[i], i + 1 < argc ? argv[i + 1] : "(missing value)");
            return -1;
        }
    }
    if (out->config.n_joints == 0) {
        snprintf(error, error_size, "--joints N is required (1..%u)", RR_MAX_JOINTS);
        return -1;
    }
    if (n_limits > 0 && fill_limits(out, limits, n_limits, error, error_size) != 0) return -1;
    const char *config_error = rr_config_error(&out->config);
    if (config_error != NULL) {
        snprintf(error, error_size, "invalid config: %s", config_error);
        return -1;
    }
    return 0;
}
