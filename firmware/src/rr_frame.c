#include "rr_frame.h"

#include <string.h>

uint16_t rr_crc16(const uint8_t *data, size_t len) {
    uint16_t crc = RR_CRC16_INIT;
    for (size_t i = 0; i < len; ++i) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ RR_CRC16_POLY) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

size_t rr_frame_encode(uint8_t id, const uint8_t *payload, uint8_t len, uint8_t *out, size_t cap) {
    const size_t total = RR_HEADER_SIZE + (size_t)len + RR_CRC_SIZE;
    if (cap < total) return 0;
    out[0] = RR_SYNC0;
    out[1] = RR_SYNC1;
    out[2] = id;
    out[3] = len;
    if (len > 0u) memcpy(out + RR_HEADER_SIZE, payload, len);
    const uint16_t crc = rr_crc16(out + 2, (size_t)len + 2u);
    out[total - 2] = (uint8_t)(crc & 0xFFu);
    out[total - 1] = (uint8_t)(crc >> 8);
    return total;
}

void rr_parser_init(rr_parser *parser) {
    memset(parser, 0, sizeof *parser);
}

size_t rr_parser_feed(rr_parser *parser, const uint8_t *data, size_t len) {
    const size_t room = RR_PARSER_CAPACITY - parser->used;
    const size_t take = len < room ? len : room;
    memcpy(parser->buf + parser->used, data, take);
    parser->used += take;
    return take;
}

static void discard(rr_parser *parser, size_t count) {
    memmove(parser->buf, parser->buf + count, parser->used - count);
    parser->used -= count;
}

/* Drops bytes before the first sync (keeping a trailing RR_SYNC0); true if the buffer starts with one. */
static bool find_sync(rr_parser *parser) {
    size_t start = parser->used;
    for (size_t i = 0; i + 1 < parser->used; ++i) {
        if (parser->buf[i] == RR_SYNC0 && parser->buf[i + 1] == RR_SYNC1) {
            start = i;
            break;
        }
    }
    if (start == parser->used && parser->used > 0 && parser->buf[parser->used - 1] == RR_SYNC0) {
        start = parser->used - 1;
    }
    parser->counts.skipped_bytes += (uint32_t)start;
    discard(parser, start);
    return parser->used >= 2 && parser->buf[0] == RR_SYNC0 && parser->buf[1] == RR_SYNC1;
}

static void reject(rr_parser *parser, uint32_t *reason) {
    *reason += 1u;
    parser->counts.skipped_bytes += 1u;
    discard(parser, 1);
}

static bool crc_ok(const uint8_t *frame, uint8_t len) {
    const uint16_t wire = (uint16_t)(frame[RR_HEADER_SIZE + len] | (frame[RR_HEADER_SIZE + len + 1] << 8));
    return rr_crc16(frame + 2, (size_t)len + 2u) == wire;
}

bool rr_parser_next(rr_parser *parser, rr_frame *out) {
    while (find_sync(parser) && parser->used >= RR_HEADER_SIZE) {
        const uint8_t id = parser->buf[2];
        const uint8_t len = parser->buf[3];
        const int n_joints = rr_message_joints(id, len);
        if (n_joints == RR_UNKNOWN_ID) { reject(parser, &parser->counts.unknown_id); continue; }
        if (n_joints == RR_BAD_LENGTH) { reject(parser, &parser->counts.bad_length); continue; }
        const size_t end = RR_HEADER_SIZE + (size_t)len + RR_CRC_SIZE;
        if (parser->used < end) return false;
        if (!crc_ok(parser->buf, len)) { reject(parser, &parser->counts.bad_crc); continue; }
        out->id = id;
        out->len = len;
        out->n_joints = (uint8_t)n_joints;
        memcpy(out->payload, parser->buf + RR_HEADER_SIZE, len);
        discard(parser, end);
        parser->counts.frames += 1u;
        return true;
    }
    return false;
}

uint32_t rr_parser_rejected(const rr_parser *parser) {
    return parser->counts.bad_crc + parser->counts.unknown_id + parser->counts.bad_length;
}
