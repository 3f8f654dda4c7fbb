/* The joint controller's pure core: Config + State + step functions. No I/O, no globals, no clock:
 * the caller passes time and measurements in and applies the torques that come out.
 *
 * Per 1 kHz tick (rr_step): apply the last accepted torque command clamped to +-torque_limit.
 * Every command carries command_time_us, the firmware time the host had seen (from STATE) when it
 * sent it: its age is judged on the firmware's own clock, however late it arrives.
 * Latches (stay set until rr_clear_fault; a new command alone does not clear them):
 *   - watchdog: armed by the first accepted command; trips when the applied command is older than
 *     watchdog_timeout_ms (now_us - command_time_us), however many frames arrive meanwhile;
 *   - fault: a non-finite torque command or a non-finite measurement.
 * While latched the output is a damping brake, torque = -brake_damping * velocity, clamped to
 * +-torque_limit (brake_damping = 0 gives zero torque). Before the first command: zero torque. */
#ifndef RR_CONTROL_H
#define RR_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "rr_protocol_gen.h"

typedef struct {
    uint8_t n_joints;                   /* 1 .. RR_MAX_JOINTS */
    float torque_limit[RR_MAX_JOINTS];  /* Nm, > 0: |applied torque| <= this */
    float brake_damping[RR_MAX_JOINTS]; /* Nm s/rad, >= 0: brake gain while latched */
    uint16_t watchdog_timeout_ms;       /* ms, > 0 */
} rr_config;

typedef struct {
    float command[RR_MAX_JOINTS]; /* Nm, last accepted command as received (unclamped) */
    uint32_t sequence;            /* counter of the last accepted command */
    uint32_t command_time_us;     /* command_time_us of the last accepted command (its send time) */
    bool armed;                   /* a command was accepted since boot / rr_clear_fault */
    bool watchdog_tripped;        /* latched */
    bool fault_latched;           /* latched */
    bool bad_command;             /* the last command was rejected */
    bool latch_timed;             /* latch_time_us holds when the current latch was set */
    uint32_t latch_time_us;       /* firmware time the current latch was set (0: none) */
} rr_state;

typedef struct {
    uint32_t sequence;        /* the frame's counter */
    uint32_t command_time_us; /* firmware time when the host sent it */
    uint8_t n_torques;
    float torque[RR_MAX_JOINTS]; /* Nm */
} rr_torque_command;

typedef struct {
    uint32_t now_us;               /* firmware time, us (wraps) */
    float position[RR_MAX_JOINTS]; /* rad */
    float velocity[RR_MAX_JOINTS]; /* rad/s */
} rr_inputs;

typedef struct {
    float torque[RR_MAX_JOINTS]; /* Nm, to apply this tick */
    uint16_t status;             /* RR_STATUS_* bits */
} rr_outputs;

/* NULL if the config is valid, else a message naming the bad field. */
const char *rr_config_error(const rr_config *config);

void rr_state_init(rr_state *state);

typedef enum {
    RR_COMMAND_APPLIED,
    RR_COMMAND_LATCHED, /* valid, ignored while a latch is set */
    RR_COMMAND_BAD,     /* wrong joint count or non-finite torque */
    RR_COMMAND_STALE,   /* older than the watchdog timeout (or from the future): not applied */
} rr_command_result;

/* An authentic TORQUE_COMMAND arrived at now_us. Wrong joint count: ignored, bad_command set.
 * Non-finite torque: command zeroed, fault latched. Stale: ignored (the watchdog then trips on the
 * applied command's age). While latched a valid command is ignored. */
rr_command_result rr_accept_command(const rr_config *config, rr_state *state, const rr_torque_command *command,
                                    uint32_t now_us);

/* now_us - time_us (mod 2^32) exceeds the watchdog timeout: also true for a time "in the future". */
bool rr_older_than_timeout(const rr_config *config, uint32_t time_us, uint32_t now_us);

/* CLEAR_FAULT: clear both latches and bad_command, disarm, zero the command. */
void rr_clear_fault(rr_state *state);

/* One control tick. */
void rr_step(const rr_config *config, rr_state *state, const rr_inputs *inputs, rr_outputs *outputs);

#endif /* RR_CONTROL_H */
