/* rr_frame_tool: the C frame and message code driven from text, for the shared test vectors.
 *
 *   rr_frame_tool decode          stdin: one hex byte stream per line. For each line, every frame the
 *                                 parser accepts: "frame ID PAYLOAD_HEX" (plus "torque_command SEQ T1,..,Tn"
 *                                 for TORQUE_COMMAND), then "counts frames=.. bad_crc=.. unknown_id=..
 *                                 bad_length=.. skipped_bytes=..".
 *   rr_frame_tool encode          stdin: "ID PAYLOAD_HEX" per line (hex); prints each frame as hex.
 *   rr_frame_tool encode-info WATCHDOG_MS L1 .. Ln
 *   rr_frame_tool encode-state SEQ TIME_US STATUS RX_REJECTED N P1..Pn V1..Vn E1..En
 *                                 print one INFO / STATE frame as hex. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rr_messages.h"

#define LINE_MAX_BYTES 65536

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex text (no separators) into bytes; returns the byte count, -1 on bad hex. */
static long parse_hex(const char *text, uint8_t *out, size_t cap) {
    size_t len = strcspn(text, " \r\n");
    if (len % 2 != 0 || len / 2 > cap) return -1;
    for (size_t i = 0; i < len / 2; ++i) {
        const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return (long)(len / 2);
}

static void print_hex(const uint8_t *bytes, size_t len) {
    for (size_t i = 0; i < len; ++i) printf("%02x", bytes[i]);
}

static void print_frame(const rr_frame *frame) {
    printf("frame %02x ", frame->id);
    print_hex(frame->payload, frame->len);
    printf("\n");
    rr_torque_command command;
    if (rr_decode_torque_command(frame, &command)) {
        printf("torque_command %u ", command.sequence);
        for (unsigned j = 0; j < command.n_torques; ++j) printf("%s%.9g", j ? "," : "", (double)command.torque[j]);
        printf("\n");
    }
}

/* Feeds the stream in 7-byte pieces, so frames straddle feeds as they do on a serial line. */
static void decode_stream(const uint8_t *bytes, size_t len) {
    static rr_parser parser;
    rr_frame frame;
    rr_parser_init(&parser);
    for (size_t offset = 0; offset < len;) {
        const size_t piece = len - offset < 7 ? len - offset : 7;
        offset += rr_parser_feed(&parser, bytes + offset, piece);
        while (rr_parser_next(&parser, &frame)) print_frame(&frame);
    }
    const rr_parser_counts *c = &parser.counts;
    printf("counts frames=%u bad_crc=%u unknown_id=%u bad_length=%u skipped_bytes=%u\n",
           c->frames, c->bad_crc, c->unknown_id, c->bad_length, c->skipped_bytes);
}

static int run_decode(void) {
    static char line[2 * LINE_MAX_BYTES + 4];
    static uint8_t bytes[LINE_MAX_BYTES];
    while (fgets(line, sizeof line, stdin) != NULL) {
        const long len = parse_hex(line, bytes, sizeof bytes);
        if (len < 0) { fprintf(stderr, "rr_frame_tool: bad hex line\n"); return 1; }
        decode_stream(bytes, (size_t)len);
    }
    return 0;
}

static int run_encode(void) {
    static char line[1024];
    uint8_t payload[RR_MAX_PAYLOAD], frame[RR_FRAME_MAX];
    while (fgets(line, sizeof line, stdin) != NULL) {
        uint8_t id = 0;
        const char *space = strchr(line, ' ');
        const long len = space ? parse_hex(space + 1, payload, sizeof payload) : -1;
        if (len < 0 || parse_hex(line, &id, 1) != 1) { fprintf(stderr, "rr_frame_tool: bad line\n"); return 1; }
        print_hex(frame, rr_frame_encode(id, payload, (uint8_t)len, frame, sizeof frame));
        printf("\n");
    }
    return 0;
}

static void parse_floats(char **args, unsigned n, float *out) {
    for (unsigned j = 0; j < n; ++j) out[j] = strtof(args[j], NULL);
}

static int run_encode_info(int argc, char **argv) {
    rr_config config;
    memset(&config, 0, sizeof config);
    if (argc < 4 || argc - 3 > (int)RR_MAX_JOINTS) return 2;
    config.watchdog_timeout_ms = (uint16_t)strtoul(argv[2], NULL, 10);
    config.n_joints = (uint8_t)(argc - 3);
    parse_floats(argv + 3, config.n_joints, config.torque_limit);
    uint8_t frame[RR_FRAME_MAX];
    print_hex(frame, rr_encode_info(&config, frame, sizeof frame));
    printf("\n");
    return 0;
}

static int run_encode_state(int argc, char **argv) {
    float position[RR_MAX_JOINTS], velocity[RR_MAX_JOINTS], effort[RR_MAX_JOINTS];
    if (argc < 7) return 2;
    const unsigned n = (unsigned)strtoul(argv[6], NULL, 10);
    if (n < 1 || n > RR_MAX_JOINTS || argc != 7 + 3 * (int)n) return 2;
    parse_floats(argv + 7, n, position);
    parse_floats(argv + 7 + n, n, velocity);
    parse_floats(argv + 7 + 2 * n, n, effort);
    const rr_state_report report = {
        (uint16_t)strtoul(argv[2], NULL, 10), (uint32_t)strtoul(argv[3], NULL, 10),
        (uint16_t)strtoul(argv[4], NULL, 10), (uint16_t)strtoul(argv[5], NULL, 10),
        (uint8_t)n, position, velocity, effort};
    uint8_t frame[RR_FRAME_MAX];
    print_hex(frame, rr_encode_state(&report, frame, sizeof frame));
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    int status = 2;
    if (strcmp(mode, "decode") == 0) status = run_decode();
    else if (strcmp(mode, "encode") == 0) status = run_encode();
    else if (strcmp(mode, "encode-info") == 0) status = run_encode_info(argc, argv);
    else if (strcmp(mode, "encode-state") == 0) status = run_encode_state(argc, argv);
    if (status == 2) fprintf(stderr, "usage: see the comment at the top of firmware/host/frame_tool.c\n");
    return status;
}
