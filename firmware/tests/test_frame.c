/* CRC, frame encoding, and the parser's resynchronisation and rejection counts. */
#include <string.h>

#include "check.h"
#include "rr_frame.h"

static size_t feed_all(rr_parser *parser, const uint8_t *bytes, size_t len, rr_frame *frames, size_t max) {
    size_t count = 0;
    for (size_t offset = 0; offset < len;) {
        offset += rr_parser_feed(parser, bytes + offset, len - offset);
        while (count < max && rr_parser_next(parser, &frames[count])) ++count;
    }
    return count;
}

static size_t clear_fault_frame(uint8_t *out) {
    static const uint8_t trailer[RR_AUTH_TRAILER_SIZE] = {1}; /* the parser checks length and CRC only */
    return rr_frame_encode(RR_MSG_CLEAR_FAULT, trailer, sizeof trailer, out, RR_FRAME_MAX);
}

static void test_crc_check_value(void) {
    CHECK(rr_crc16((const uint8_t *)"123456789", 9) == 0x29B1u); /* CRC-16/CCITT-FALSE check value */
}

static void test_round_trip(void) {
    const uint8_t payload[20] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F}; /* time 1, 1.0 Nm, trailer */
    uint8_t bytes[RR_FRAME_MAX];
    const size_t len = rr_frame_encode(RR_MSG_TORQUE_COMMAND, payload, sizeof payload, bytes, sizeof bytes);
    CHECK(len == 26u && bytes[0] == RR_SYNC0 && bytes[1] == RR_SYNC1 && bytes[3] == 20u);
    CHECK(rr_frame_encode(RR_MSG_TORQUE_COMMAND, payload, sizeof payload, bytes, 25) == 0u);
    rr_parser parser;
    rr_frame frames[2];
    rr_parser_init(&parser);
    for (size_t i = 0; i < len; ++i) { /* one byte at a time */
        CHECK(rr_parser_feed(&parser, bytes + i, 1) == 1u);
        CHECK(rr_parser_next(&parser, &frames[0]) == (i == len - 1));
    }
    CHECK(frames[0].id == RR_MSG_TORQUE_COMMAND && frames[0].n_joints == 1u);
    CHECK(memcmp(frames[0].payload, payload, sizeof payload) == 0);
}

static void test_rejections_are_counted_and_next_frame_survives(void) {
    uint8_t stream[160];
    size_t len = 0;
    const uint8_t garbage[] = {0x11, 0xA5, 0x22, RR_SYNC0, RR_SYNC1, 0x7F, 0x00, /* unknown id */
                               RR_SYNC0, RR_SYNC1, RR_MSG_CLEAR_FAULT, 0x01};  /* bad length */
    memcpy(stream, garbage, sizeof garbage);
    len += sizeof garbage;
    const size_t bad = clear_fault_frame(stream + len);
    stream[len + bad - 1] ^= 0xFFu; /* bad CRC */
    len += bad;
    len += clear_fault_frame(stream + len);
    rr_parser parser;
    rr_frame frames[4];
    rr_parser_init(&parser);
    CHECK(feed_all(&parser, stream, len, frames, 4) == 1u && frames[0].id == RR_MSG_CLEAR_FAULT);
    CHECK(parser.counts.unknown_id == 1u && parser.counts.bad_length == 1u && parser.counts.bad_crc == 1u);
    CHECK(parser.counts.frames == 1u && rr_parser_rejected(&parser) == 3u);
    CHECK(parser.counts.skipped_bytes == sizeof garbage + bad);
}

static void test_frame_behind_false_sync_is_recovered(void) {
    /* A false header announcing a long STATE swallows the real frame; the CRC fails, the rescan finds it. */
    uint8_t stream[128] = {RR_SYNC0, RR_SYNC1, RR_MSG_STATE,
                          RR_STATE_FIXED_LEN + RR_STATE_PER_JOINT_LEN + RR_AUTH_TRAILER_SIZE};
    size_t len = 4;
    len += clear_fault_frame(stream + len);
    memset(stream + len, 0, 50);
    len += 50;
    rr_parser parser;
    rr_frame frames[2];
    rr_parser_init(&parser);
    CHECK(feed_all(&parser, stream, len, frames, 2) == 1u && frames[0].id == RR_MSG_CLEAR_FAULT);
    CHECK(parser.counts.bad_crc == 1u);
}

static void test_garbage_never_fills_the_parser(void) {
    uint8_t noise[4096];
    for (size_t i = 0; i < sizeof noise; ++i) noise[i] = (uint8_t)(i * 37u + 11u);
    rr_parser parser;
    rr_frame frames[8];
    rr_parser_init(&parser);
    feed_all(&parser, noise, sizeof noise, frames, 8);
    uint8_t good[RR_FRAME_MAX];
    const size_t len = clear_fault_frame(good);
    CHECK(feed_all(&parser, good, len, frames, 8) >= 1u);
}

void test_frame(void) {
    test_crc_check_value();
    test_round_trip();
    test_rejections_are_counted_and_next_frame_survives();
    test_frame_behind_false_sync_is_recovered();
    test_garbage_never_fills_the_parser();
}
