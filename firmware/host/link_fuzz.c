#define _POSIX_C_SOURCE 200809L
#include "link_fuzz.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rr_app.h"

#define FUZZ_JOINTS 7u
#define RING 16u

enum { LEGIT, FORGED, WRONG_KEY, MODIFIED, REPLAYED, FLIP1, FLIP2, KINDS };
static const char *const KIND_NAMES[KINDS] = {"legit", "forged", "wrong_key", "modified", "replayed", "flip1",
                                               "flip2"};

typedef struct {
    uint64_t rng;
    uint32_t now_us;
    uint8_t rx[RR_FRAME_MAX];
    size_t rx_len, rx_pos;
} fuzz_hal;

static uint64_t next_random(uint64_t *state) { /* xorshift64* */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static uint32_t fuzz_now(void *ctx) { return ((fuzz_hal *)ctx)->now_us; }
static void fuzz_encoders(void *ctx, unsigned n, float *q, float *v) {
    (void)ctx;
    for (unsigned j = 0; j < n; ++j) q[j] = v[j] = 0.0f;
}
static void fuzz_torques(void *ctx, unsigned n, const float *t) { (void)ctx, (void)n, (void)t; }
static void fuzz_write(void *ctx, const uint8_t *f, size_t n) { (void)ctx, (void)f, (void)n; }
static size_t fuzz_read(void *ctx, uint8_t *buf, size_t cap) {
    fuzz_hal *hal = ctx;
    const size_t left = hal->rx_len - hal->rx_pos, take = left < cap ? left : cap;
    memcpy(buf, hal->rx + hal->rx_pos, take);
    hal->rx_pos += take;
    return take;
}
static void fuzz_random(void *ctx, uint8_t *buf, size_t len) {
    for (size_t i = 0; i < len; ++i) buf[i] = (uint8_t)next_random(&((fuzz_hal *)ctx)->rng);
}

typedef struct {
    rr_app app;
    fuzz_hal hal;
    rr_hal bindings;
    rr_auth host, forger;
    uint32_t counter; /* the host's last counter */
    uint8_t ring[RING][RR_FRAME_MAX];
    size_t ring_len[RING];
    unsigned long ring_used;
    unsigned long sent[KINDS], accepted[KINDS];
} fuzz;

static size_t command(fuzz *f, const rr_auth *auth, uint32_t counter, uint8_t *out) {
    uint8_t body[4 + 4 * FUZZ_JOINTS] = {0};
    memcpy(body, &f->hal.now_us, 4);
    for (unsigned j = 0; j < FUZZ_JOINTS; ++j) {
        const float torque = (float)(next_random(&f->hal.rng) % 2001u) * 1e-3f - 1.0f;
        memcpy(body + 4 + 4 * j, &torque, 4);
    }
    return rr_seal(auth, NULL, RR_MSG_TORQUE_COMMAND, body, sizeof body, counter, out, RR_FRAME_MAX);
}

static size_t forged(fuzz *f, uint8_t *out) {
    static const uint8_t ids[3] = {RR_MSG_HELLO, RR_MSG_TORQUE_COMMAND, RR_MSG_CLEAR_FAULT};
    const uint8_t id = ids[next_random(&f->hal.rng) % 3u];
    uint8_t payload[RR_MAX_PAYLOAD];
    size_t len = id == RR_MSG_HELLO ? 8u : id == RR_MSG_CLEAR_FAULT ? 0u : 4u + 4u * FUZZ_JOINTS;
    len += RR_AUTH_TRAILER_SIZE;
    for (size_t i = 0; i < len; ++i) payload[i] = (uint8_t)next_random(&f->hal.rng);
    return rr_frame_encode(id, payload, (uint8_t)len, out, RR_FRAME_MAX);
}

/* Flips `bits` distinct bits of frame[from..to). */
static void flip(fuzz *f, uint8_t *frame, size_t from, size_t to, unsigned bits) {
    size_t chosen[8];
    for (unsigned b = 0; b < bits; ++b) {
        int again = 1;
        while (again) {
            chosen[b] = from * 8u + next_random(&f->hal.rng) % (8u * (to - from));
            again = 0;
            for (unsigned k = 0; k < b; ++k) again |= chosen[k] == chosen[b];
        }
        frame[chosen[b] / 8u] ^= (uint8_t)(1u << (chosen[b] % 8u));
    }
}

static void fix_crc(uint8_t *frame, size_t len) {
    const uint16_t crc = rr_crc16(frame + 2, len - 4u);
    frame[len - 2] = (uint8_t)crc;
    frame[len - 1] = (uint8_t)(crc >> 8);
}

/* One frame of the given kind into hal.rx; returns whether the firmware must accept it. */
static int make_frame(fuzz *f, int kind) {
    uint8_t *out = f->hal.rx;
    size_t len = 0;
    if (kind == LEGIT) {
        len = command(f, &f->host, ++f->counter, out);
        memcpy(f->ring[f->ring_used % RING], out, len);
        f->ring_len[f->ring_used++ % RING] = len;
    } else if (kind == FORGED) {
        len = forged(f, out);
    } else if (kind == WRONG_KEY) {
        len = command(f, &f->forger, f->counter + 1u, out);
    } else if (kind == MODIFIED) { /* flips in id, payload or tag (not len: a frame stays a frame), CRC fixed */
        len = command(f, &f->host, f->counter + 1u, out);
        const unsigned bits = 1u + (unsigned)(next_random(&f->hal.rng) % 8u);
        out[2] ^= (uint8_t)(next_random(&f->hal.rng) % 4u == 0u ? 1u << (next_random(&f->hal.rng) % 8u) : 0u);
        flip(f, out, 4, len - 2u, bits);
        fix_crc(out, len);
    } else if (kind == REPLAYED) {
        const unsigned long pick = f->ring_used - 1u - next_random(&f->hal.rng) % (f->ring_used < RING ? f->ring_used : RING);
        len = f->ring_len[pick % RING];
        memcpy(out, f->ring[pick % RING], len);
    } else { /* FLIP1 / FLIP2: anywhere, sync and CRC included, CRC not fixed */
        len = command(f, &f->host, f->counter + 1u, out);
        flip(f, out, 0, len, kind == FLIP1 ? 1u : 2u);
    }
    f->hal.rx_len = len;
    f->hal.rx_pos = 0;
    return kind == LEGIT;
}

static int deliver(fuzz *f, int kind) {
    const uint32_t counter = f->app.rx_counter;
    uint8_t session[RR_SESSION_SIZE];
    memcpy(session, f->app.auth.session, sizeof session);
    const int must_accept = make_frame(f, kind);
    rr_parser_init(&f->app.parser); /* each frame on a clean parser: this fuzzes the link, not resync */
    f->hal.now_us += 1000u;
    rr_app_tick(&f->app);
    const int accepted = f->app.rx_counter != counter || memcmp(session, f->app.auth.session, sizeof session) != 0;
    f->sent[kind] += 1u;
    f->accepted[kind] += accepted ? 1u : 0u;
    return accepted == must_accept;
}

static void setup(fuzz *f, unsigned long seed) {
    static const uint8_t pre_session[RR_SESSION_SIZE] = {0};
    uint8_t key[RR_KEY_SIZE], other[RR_KEY_SIZE];
    memset(f, 0, sizeof *f);
    f->hal.rng = seed * 0x9E3779B97F4A7C15ull + 1u;
    fuzz_random(&f->hal, key, sizeof key);
    fuzz_random(&f->hal, other, sizeof other);
    f->bindings = (rr_hal){&f->hal, fuzz_now, fuzz_encoders, fuzz_torques, fuzz_read, fuzz_write, fuzz_random};
    rr_config config = {.n_joints = FUZZ_JOINTS, .watchdog_timeout_ms = 65535u};
    for (unsigned j = 0; j < FUZZ_JOINTS; ++j) config.torque_limit[j] = 10.0f;
    rr_app_init(&f->app, &f->bindings, &config, key);
    rr_auth_init(&f->host, key);
    rr_auth_init(&f->forger, other);
    const uint8_t hello[8] = {1};
    f->hal.rx_len = rr_seal(&f->host, pre_session, RR_MSG_HELLO, hello, sizeof hello, 0u, f->hal.rx, RR_FRAME_MAX);
    rr_app_tick(&f->app);
    memcpy(f->host.session, f->app.auth.session, sizeof f->host.session); /* the session HELLO_ACK announced */
    memcpy(f->forger.session, f->app.auth.session, sizeof f->forger.session);
}

static double elapsed(const struct timespec *from, const struct timespec *to) {
    return (double)(to->tv_sec - from->tv_sec) + 1e-9 * (double)(to->tv_nsec - from->tv_nsec);
}

int link_fuzz(unsigned long frames, unsigned long seed) {
    static fuzz f;
    setup(&f, seed);
    unsigned long violations = 0;
    struct timespec start, end, cpu_start, cpu_end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
    for (unsigned long i = 0; i < frames; ++i) {
        const int kind = i < 2u ? LEGIT : (int)(next_random(&f.hal.rng) % KINDS);
        violations += deliver(&f, kind) ? 0u : 1u;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_end);
    const double seconds = elapsed(&start, &end), cpu_seconds = elapsed(&cpu_start, &cpu_end);
    printf("{\"frames\": %lu, \"seed\": %lu, \"seconds\": %.3f, \"frames_per_s\": %.0f, \"cpu_seconds\": %.3f, "
           "\"frames_per_cpu_s\": %.0f, \"violations\": %lu", frames, seed, seconds, (double)frames / seconds,
           cpu_seconds, (double)frames / cpu_seconds, violations);
    for (int k = 0; k < KINDS; ++k) {
        printf(", \"%s\": {\"sent\": %lu, \"accepted\": %lu}", KIND_NAMES[k], f.sent[k], f.accepted[k]);
    }
    printf(", \"firmware\": {\"auth_rejected\": %lu, \"replay_rejected\": %lu}}\n",
           (unsigned long)f.app.link.auth_rejected, (unsigned long)f.app.link.replay_rejected);
    return violations == 0u ? 0 : 1;
}
