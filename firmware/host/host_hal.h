/* The host build's HAL: simulated motors, the simulated clock, and a pty as the serial port.
 *
 * Outgoing frames go through a small byte queue that the pty drains without blocking; a frame that
 * does not fit is dropped whole (counted), so a slow reader never sees a torn frame, and one that
 * reconnects gets fresh frames rather than a long backlog. With
 * line_noise_every = K > 0, every K-th tick's STATE frame is preceded by a noise burst (garbage,
 * a header with an unknown id, a header with a bad length, a copy of the frame with a bad CRC):
 * the line noise a real UART sees, for testing the host's resynchronisation. */
#ifndef HOST_HAL_H
#define HOST_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "rr_hal.h"
#include "rr_protocol_gen.h"
#include "sim_motor.h"

#define HOST_TX_QUEUE 4096u /* bytes, ~40 STATE frames of 7 joints: a stalled reader gets drops, not stale data */

typedef struct {
    int fd;                 /* pty master, non-blocking */
    int urandom_fd;         /* /dev/urandom: session nonces */
    uint32_t now_us;        /* simulated firmware time: ticks run x 1000 us */
    uint32_t line_noise_every;
    int encoder_glitch;     /* this tick's encoders read NaN (SIGUSR1) */
    unsigned n_joints;
    sim_motor motors[RR_MAX_JOINTS];
    uint8_t tx[HOST_TX_QUEUE];
    size_t tx_used;
    uint64_t tx_dropped_frames;
} host_hal_ctx;

/* Fills hal with the host functions bound to ctx. */
void host_hal_bind(rr_hal *hal, host_hal_ctx *ctx);

/* Writes as much of the queue to the pty as it takes now. */
void host_hal_flush(host_hal_ctx *ctx);

#endif /* HOST_HAL_H */
