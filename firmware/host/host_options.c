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

/* A per-joint option as given: one value for every joint, or one per joint. */
typedef struct {
    float values[RR_MAX_JOINTS];
    unsigned count; /* 0: not given */
} joint_list;

/* "V" or "V1,..,Vn" into list; 0 on success, -1 on a bad number or more than RR_MAX_JOINTS values. */
static int parse_list(const char *text, joint_list *list) {
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    list->count = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (list->count >= RR_MAX_JOINTS || parse_float(item, &list->values[list->count]) != 0) return -1;
        ++list->count;
    }
    return list->count < 1 ? -1 : 0;
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

/* Copy a given list into per_joint[0..n); 0 on success, -1 (message naming flag) on a wrong count. */
static int spread(const char *flag, const joint_list *list, unsigned n, float *per_joint, char *error,
                  unsigned size) {
    if (list->count == 0) return 0;
    if (list->count != 1 && list->count != n) {
        snprintf(error, size, "%s: give 1 value or %u (one per joint), got %u", flag, n, list->count);
        return -1;
    }
    for (unsigned j = 0; j < n; ++j) per_joint[j] = list->values[list->count == 1 ? 0 : j];
    return 0;
}

static int parse_pair(const char *flag, const char *value, host_options *out, joint_list *limits,
                      joint_list *positions) {
    unsigned long number = 0;
    float real = 0.0f;
    if (strcmp(flag, "--joints") == 0 && parse_uint(value, RR_MAX_JOINTS, &number) == 0) {
        out->config.n_joints = (uint8_t)number;
    } else if (strcmp(flag, "--key-file") == 0) {
        out->key_file = value;
    } else if (strcmp(flag, "--limits") == 0) {
        return parse_list(value, limits);
    } else if (strcmp(flag, "--initial-position") == 0) {
        return parse_list(value, positions);
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
    joint_list limits = {.count = 0}, positions = {.count = 0};
    set_defaults(out);
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || parse_pair(argv[i], argv[i + 1], out, &limits, &positions) != 0) {
            snprintf(error, error_size, "bad option %s %s", argv[i], i + 1 < argc ? argv[i + 1] : "(missing value)");
            return -1;
        }
    }
    if (out->config.n_joints == 0) {
        snprintf(error, error_size, "--joints N is required (1..%u)", RR_MAX_JOINTS);
        return -1;
    }
    if (out->key_file == NULL) {
        snprintf(error, error_size, "--key-file PATH is required (create a key with `robot-rl firmware provision`)");
        return -1;
    }
    const unsigned n = out->config.n_joints;
    if (spread("--limits", &limits, n, out->config.torque_limit, error, error_size) != 0 ||
        spread("--initial-position", &positions, n, out->initial_position, error, error_size) != 0) {
        return -1;
    }
    const char *config_error = rr_config_error(&out->config);
    if (config_error != NULL) {
        snprintf(error, error_size, "invalid config: %s", config_error);
        return -1;
    }
    return 0;
}
