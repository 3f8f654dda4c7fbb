/* The firmware application: one tick = receive and handle frames, read encoders, rr_step,
 * write torques, send STATE. Everything it owns lives in rr_app; the outside world is the HAL. */
#ifndef RR_APP_H
#define RR_APP_H

#include "rr_control.h"
#include "rr_frame.h"
#include "rr_hal.h"

#define RR_APP_RX_BYTES_PER_TICK 1024u /* bounds the time one tick spends on received bytes */

typedef struct {
    const rr_hal *hal;
    rr_config config;
    rr_state state;
    rr_parser parser;
    rr_outputs outputs; /* of the last tick */
} rr_app;

/* NULL on success, else the config error (the app must not run). */
const char *rr_app_init(rr_app *app, const rr_hal *hal, const rr_config *config);

/* One control tick (call at 1 kHz). */
void rr_app_tick(rr_app *app);

#endif /* RR_APP_H */
