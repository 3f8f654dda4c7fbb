/* Command line of rr_firmware_host. */
#ifndef HOST_OPTIONS_H
#define HOST_OPTIONS_H

#include <stdint.h>

#include "rr_control.h"

typedef struct {
    rr_config config;
    float inertia;             /* kg m^2, simulated motor J */
    float damping;             /* Nm s/rad, simulated motor b */
    float initial_position[RR_MAX_JOINTS]; /* rad, where the simulated joints boot (at rest) */
    uint32_t line_noise_every; /* 0: clean line */
    const char *key_file;      /* the shared key (required) */
} host_options;

#define HOST_USAGE \
    "usage: rr_firmware_host --joints N --key-file PATH [--limits L|L1,..,LN] [--watchdog-ms MS] [--brake-damping D]\n" \
    "                        [--inertia J] [--damping B] [--initial-position Q|Q1,..,QN] [--line-noise-every K]\n" \
    "  --joints N            joints (1..16)\n" \
    "  --key-file PATH       the shared 32-byte key, hex, mode 0600 (robot-rl firmware provision)\n" \
    "  --limits L            torque limit per joint, Nm (one value for all, or N values; default 10)\n" \
    "  --watchdog-ms MS      command age that latches the watchdog, ms (default 100)\n" \
    "  --brake-damping D     brake gain while latched, Nm s/rad (default 0.5; 0 = zero torque)\n" \
    "  --inertia J           simulated joint inertia, kg m^2 (default 0.01)\n" \
    "  --damping B           simulated viscous friction, Nm s/rad (default 0.1)\n" \
    "  --initial-position Q  where the simulated joints boot, rad (one value for all, or N values; default 0)\n" \
    "  --line-noise-every K  precede every K-th tick's STATE with line noise (default 0: none)\n" \
    "Prints the pty slave path on the first stdout line, runs at 1 kHz until SIGTERM/SIGINT.\n"

/* 0 on success; otherwise writes a message (naming the bad option) into error. */
int host_options_parse(int argc, char **argv, host_options *out, char *error, unsigned error_size);

#endif /* HOST_OPTIONS_H */
