/* The hardware abstraction the firmware is given: every access to the outside world goes through
 * these function pointers, so the same core runs on a microcontroller and on the host simulation. */
#ifndef RR_HAL_H
#define RR_HAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *ctx; /* passed back to every function */
    /* Firmware clock, us since boot (wraps at 2^32). */
    uint32_t (*now_us)(void *ctx);
    /* Joint positions (rad) and velocities (rad/s), n values each. */
    void (*read_encoders)(void *ctx, unsigned n, float *position, float *velocity);
    /* Apply joint torques (Nm), n values. */
    void (*write_torques)(void *ctx, unsigned n, const float *torque);
    /* Non-blocking: copy up to cap received bytes into buf, return how many. */
    size_t (*serial_read)(void *ctx, uint8_t *buf, size_t cap);
    /* Queue a whole frame for sending, or drop it whole if there is no room (never a partial frame). */
    void (*serial_write)(void *ctx, const uint8_t *frame, size_t len);
    /* Fill buf with len unpredictable bytes (session nonces): a hardware RNG, or the OS's. */
    void (*random)(void *ctx, uint8_t *buf, size_t len);
} rr_hal;

#endif /* RR_HAL_H */
