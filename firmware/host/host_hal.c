#define _POSIX_C_SOURCE 200809L
#include "host_hal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t now_us(void *ctx) {
    return ((host_hal_ctx *)ctx)->now_us;
}

static void read_encoders(void *ctx, unsigned n, float *position, float *velocity) {
    const host_hal_ctx *host = ctx;
    for (unsigned j = 0; j < n; ++j) {
        position[j] = host->encoder_glitch ? NAN : host->motors[j].position;
        velocity[j] = host->motors[j].velocity;
    }
}

static void write_torques(void *ctx, unsigned n, const float *torque) {
    host_hal_ctx *host = ctx;
    for (unsigned j = 0; j < n; ++j) host->motors[j].torque = torque[j];
}

static size_t serial_read(void *ctx, uint8_t *buf, size_t cap) {
    const ssize_t got = read(((host_hal_ctx *)ctx)->fd, buf, cap);
    return got > 0 ? (size_t)got : 0u; /* EAGAIN (nothing yet) and EIO (no host attached) read as 0 */
}

static void random_bytes(void *ctx, uint8_t *buf, size_t len) {
    const int fd = ((host_hal_ctx *)ctx)->urandom_fd;
    for (size_t got = 0; got < len;) {
        const ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) abort(); /* no randomness: never run a session on a predictable nonce */
        got += (size_t)n;
    }
}

static int enqueue(host_hal_ctx *host, const uint8_t *bytes, size_t len) {
    if (len > HOST_TX_QUEUE - host->tx_used) return -1;
    memcpy(host->tx + host->tx_used, bytes, len);
    host->tx_used += len;
    return 0;
}

/* Garbage, an unknown-id header, a bad-length header and a bad-CRC copy of frame: no sync inside
 * the garbage, so each piece is exactly one rejection for the host's parser. */
static size_t noise_burst(const uint8_t *frame, size_t len, uint8_t *out) {
    static const uint8_t garbage[] = {0x00, 0xFF, 0x13, 0x37, 0xA5, 0x00};
    static const uint8_t unknown_id[] = {RR_SYNC0, RR_SYNC1, 0x7F, 0x00};
    static const uint8_t bad_length[] = {RR_SYNC0, RR_SYNC1, RR_MSG_STATE, 0x03};
    size_t used = 0;
    memcpy(out + used, garbage, sizeof garbage); used += sizeof garbage;
    memcpy(out + used, unknown_id, sizeof unknown_id); used += sizeof unknown_id;
    memcpy(out + used, bad_length, sizeof bad_length); used += sizeof bad_length;
    memcpy(out + used, frame, len);
    out[used + len - 1] ^= 0x5Au; /* corrupt the CRC's high byte */
    return used + len;
}

static int noisy_tick(const host_hal_ctx *host, const uint8_t *frame) {
    const uint32_t tick = host->now_us / 1000u;
    return host->line_noise_every > 0u && frame[2] == RR_MSG_STATE && tick % host->line_noise_every == 0u;
}

static void serial_write(void *ctx, const uint8_t *frame, size_t len) {
    host_hal_ctx *host = ctx;
    uint8_t burst[64 + 2 * (RR_HEADER_SIZE + RR_MAX_PAYLOAD + RR_CRC_SIZE)];
    size_t total = 0;
    if (noisy_tick(host, frame)) total = noise_burst(frame, len, burst);
    memcpy(burst + total, frame, len);
    total += len;
    if (enqueue(host, burst, total) != 0) host->tx_dropped_frames += 1u;
    host_hal_flush(host);
}

void host_hal_flush(host_hal_ctx *host) {
    while (host->tx_used > 0) {
        const ssize_t sent = write(host->fd, host->tx, host->tx_used);
        if (sent <= 0) return; /* EAGAIN: the reader is behind; EIO: no host attached */
        memmove(host->tx, host->tx + sent, host->tx_used - (size_t)sent);
        host->tx_used -= (size_t)sent;
    }
}

void host_hal_bind(rr_hal *hal, host_hal_ctx *ctx) {
    hal->ctx = ctx;
    hal->now_us = now_us;
    hal->read_encoders = read_encoders;
    hal->write_torques = write_torques;
    hal->serial_read = serial_read;
    hal->serial_write = serial_write;
    hal->random = random_bytes;
}
