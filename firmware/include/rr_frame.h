/* Frames of the host <-> firmware protocol: CRC, encoder, incremental parser.
 *
 * The parser runs the same algorithm as robot_rl.hardware.firmware_protocol.FrameParser: find the
 * sync, check the id and the length it allows, wait for the whole frame, check the CRC. A rejected
 * candidate drops only its first sync byte, so a good frame hidden behind a false sync is found. */
#ifndef RR_FRAME_H
#define RR_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rr_protocol_gen.h"

#define RR_FRAME_MAX (RR_HEADER_SIZE + RR_MAX_PAYLOAD + RR_CRC_SIZE)
#define RR_PARSER_CAPACITY (2u * RR_FRAME_MAX)

typedef struct {
    uint8_t id;
    uint8_t len;
    uint8_t n_joints; /* implied by len (0 for messages without joint arrays) */
    uint8_t payload[RR_MAX_PAYLOAD];
} rr_frame;

typedef struct {
    uint32_t frames;        /* accepted */
    uint32_t bad_crc;       /* rejected: CRC mismatch */
    uint32_t unknown_id;    /* rejected: id not in the protocol */
    uint32_t bad_length;    /* rejected: length the id does not allow */
    uint32_t skipped_bytes; /* discarded outside accepted frames */
} rr_parser_counts;

typedef struct {
    uint8_t buf[RR_PARSER_CAPACITY];
    size_t used;
    rr_parser_counts counts;
} rr_parser;

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of len bytes. */
uint16_t rr_crc16(const uint8_t *data, size_t len);

/* Writes sync|id|len|payload|crc into out; returns the frame length, 0 if cap is too small. */
size_t rr_frame_encode(uint8_t id, const uint8_t *payload, uint8_t len, uint8_t *out, size_t cap);

void rr_parser_init(rr_parser *parser);

/* Copies up to len bytes into the parser; returns how many it took (fewer when its buffer is full:
 * call rr_parser_next until false, then feed the rest). */
size_t rr_parser_feed(rr_parser *parser, const uint8_t *data, size_t len);

/* Extracts the next good frame into out; false when more bytes are needed. */
bool rr_parser_next(rr_parser *parser, rr_frame *out);

/* Frames rejected so far, all reasons. */
uint32_t rr_parser_rejected(const rr_parser *parser);

#endif /* RR_FRAME_H */
