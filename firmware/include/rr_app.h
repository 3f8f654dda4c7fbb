/* The firmware application: one tick = receive and handle frames, read encoders, rr_step,
 * write torques, send STATE. Everything it owns lives in rr_app; the outside world is the HAL.
 *
 * Link security (see firmware/README.md, "Threat model"): every received frame must carry a tag
 * under the shared key and the current session nonce, and a counter above the last accepted one;
 * others are dropped and counted (auth_rejected, replay_rejected in STATE). A valid HELLO opens a new
 * session (fresh firmware nonce from the HAL's random source) and resets the receive counter. */
#ifndef RR_APP_H
#define RR_APP_H

#include "rr_auth.h"
#include "rr_control.h"
#include "rr_frame.h"
#include "rr_hal.h"

/* Bound on the RX work of one tick, so a flood cannot starve the control tick: at most this many
 * bytes read (above a 2 Mbaud line's 200 bytes per 1 ms tick, so a legitimate line never backs up)
 * and this many tags checked (each 2..5 SHA-256 compressions). The rest waits for the next tick; a
 * command delayed that way ages, and the watchdog judges its age. */
#define RR_APP_RX_BYTES_PER_TICK 256u
#define RR_APP_MACS_PER_TICK 8u

typedef struct {
    uint32_t auth_rejected;   /* wrong tag, or a host frame before any session */
    uint32_t replay_rejected; /* authentic, but the counter (or HELLO nonce) was not new */
    uint32_t stale_rejected;  /* authentic command older than the watchdog timeout */
} rr_link_counts;

typedef struct {
    const rr_hal *hal;
    rr_config config;
    rr_state state;
    rr_parser parser;
    rr_auth auth;
    bool session_open;
    uint64_t host_nonce;    /* of the current session */
    uint32_t rx_counter;    /* last accepted counter in this session */
    uint32_t tx_counter;    /* last counter sent */
    rr_link_counts link;
    rr_outputs outputs; /* of the last tick */
} rr_app;

/* NULL on success, else the config error (the app must not run). key: RR_KEY_SIZE bytes. */
const char *rr_app_init(rr_app *app, const rr_hal *hal, const rr_config *config, const uint8_t *key);

/* One control tick (call at 1 kHz). */
void rr_app_tick(rr_app *app);

#endif /* RR_APP_H */
