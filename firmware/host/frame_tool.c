/* rr_frame_tool: the C frame, message and authentication code driven from text, for the shared test
 * vectors and the fuzzing (KEY: 64 hex digits; SESSION: 32 hex digits).
 *
 *   rr_frame_tool decode          stdin: one hex byte stream per line. For each line, every frame the
 *                                 parser accepts: "frame ID PAYLOAD_HEX" (plus "torque_command COUNTER
 *                                 TIME_US T1,..,Tn" for TORQUE_COMMAND), then "counts frames=.. bad_crc=..
 *                                 unknown_id=.. bad_length=.. skipped_bytes=..".
 *   rr_frame_tool encode          stdin: "ID PAYLOAD_HEX" per line (hex); prints each frame as hex.
 *   rr_frame_tool seal KEY SESSION      stdin: "ID COUNTER BODY_HEX" per line; prints each sealed frame.
 *   rr_frame_tool verify KEY SESSION    stdin: one frame (hex) per line; prints "ok" or "bad" for each.
 *   rr_frame_tool encode-hello-ack KEY SESSION NONCE WATCHDOG_MS L1 .. Ln
 *   rr_frame_tool encode-state KEY SESSION COUNTER SEQ TIME_US CMD_TIME_US LATCH_US STATUS RX AUTH REPLAY STALE N
 *                                 P1..Pn V1..Vn E1..En      print one sealed HELLO_ACK / STATE frame.
 *   rr_frame_tool fuzz FRAMES SEED      the link fuzz (host/link_fuzz.c); one JSON line; exit 1 on a violation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_fuzz.h"
#include "rr_auth.h"
#include "rr_messages.h"

#define LINE_MAX_BYTES 65536

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex text (up to a space or line end) into bytes; returns the byte count, -1 on bad hex. */
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
        printf("torque_command %u %u ", (unsigned)command.sequence, (unsigned)command.command_time_us);
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

/* KEY and SESSION arguments into auth; 0 on success. */
static int parse_auth(const char *key_hex, const char *session_hex, rr_auth *auth) {
    uint8_t key[RR_KEY_SIZE];
    if (parse_hex(key_hex, key, sizeof key) != (long)RR_KEY_SIZE) return -1;
    rr_auth_init(auth, key);
    return parse_hex(session_hex, auth->session, sizeof auth->session) == (long)RR_SESSION_SIZE ? 0 : -1;
}

static int run_seal(const rr_auth *auth) {
    static char line[1024];
    uint8_t body[RR_MAX_PAYLOAD], frame[RR_FRAME_MAX];
    unsigned id = 0;
    unsigned long counter = 0;
    int offset = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        const long len = sscanf(line, "%x %lu %n", &id, &counter, &offset) == 2 ? parse_hex(line + offset, body, sizeof body) : -1;
        if (len < 0) { fprintf(stderr, "rr_frame_tool: bad line\n"); return 1; }
        print_hex(frame, rr_seal(auth, NULL, (uint8_t)id, body, (size_t)len, (uint32_t)counter, frame, sizeof frame));
        printf("\n");
    }
    return 0;
}

static int run_verify(const rr_auth *auth) {
    static char line[1024];
    uint8_t bytes[RR_FRAME_MAX];
    while (fgets(line, sizeof line, stdin) != NULL) {
        const long len = parse_hex(line, bytes, sizeof bytes);
        rr_parser parser;
        rr_frame frame;
        rr_parser_init(&parser);
        rr_parser_feed(&parser, bytes, len > 0 ? (size_t)len : 0u);
        printf(rr_parser_next(&parser, &frame) && rr_verify(auth, NULL, &frame) ? "ok\n" : "bad\n");
    }
    return 0;
}

static void parse_floats(char **args, unsigned n, float *out) {
    for (unsigned j = 0; j < n; ++j) out[j] = strtof(args[j], NULL);
}

static void print_sealed(const rr_auth *auth, uint8_t id, const uint8_t *body, size_t len, uint32_t counter) {
    uint8_t frame[RR_FRAME_MAX];
    print_hex(frame, rr_seal(auth, NULL, id, body, len, counter, frame, sizeof frame));
    printf("\n");
}

static int run_encode_hello_ack(const rr_auth *auth, int argc, char **argv) {
    rr_config config;
    memset(&config, 0, sizeof config);
    if (argc < 7 || argc - 6 > (int)RR_MAX_JOINTS) return 2;
    config.watchdog_timeout_ms = (uint16_t)strtoul(argv[5], NULL, 10);
    config.n_joints = (uint8_t)(argc - 6);
    parse_floats(argv + 6, config.n_joints, config.torque_limit);
    uint8_t body[RR_MAX_PAYLOAD];
    print_sealed(auth, RR_MSG_HELLO_ACK, body, rr_encode_hello_ack(&config, strtoull(argv[4], NULL, 10), body), 1u);
    return 0;
}

static int run_encode_state(const rr_auth *auth, int argc, char **argv) {
    float position[RR_MAX_JOINTS], velocity[RR_MAX_JOINTS], effort[RR_MAX_JOINTS];
    if (argc < 15) return 2;
    const unsigned n = (unsigned)strtoul(argv[14], NULL, 10);
    if (n < 1 || n > RR_MAX_JOINTS || argc != 15 + 3 * (int)n) return 2;
    parse_floats(argv + 15, n, position);
    parse_floats(argv + 15 + n, n, velocity);
    parse_floats(argv + 15 + 2 * n, n, effort);
    unsigned long v[10];
    for (int i = 0; i < 10; ++i) v[i] = strtoul(argv[4 + i], NULL, 10);
    const rr_state_report report = {(uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3], (uint32_t)v[4], (uint16_t)v[5],
                                    (uint16_t)v[6], (uint16_t)v[7], (uint16_t)v[8], (uint16_t)v[9], (uint8_t)n,
                                    position, velocity, effort};
    uint8_t body[RR_MAX_PAYLOAD];
    print_sealed(auth, RR_MSG_STATE, body, rr_encode_state(&report, body), (uint32_t)v[0]);
    return 0;
}

static int run_authenticated(const char *mode, int argc, char **argv) {
    static rr_auth auth;
    if (argc < 4 || parse_auth(argv[2], argv[3], &auth) != 0) return 2;
    if (strcmp(mode, "seal") == 0) return run_seal(&auth);
    if (strcmp(mode, "verify") == 0) return run_verify(&auth);
    if (strcmp(mode, "encode-hello-ack") == 0) return run_encode_hello_ack(&auth, argc, argv);
    return run_encode_state(&auth, argc, argv);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    int status = 2;
    if (strcmp(mode, "decode") == 0) status = run_decode();
    else if (strcmp(mode, "encode") == 0) status = run_encode();
    else if (strcmp(mode, "fuzz") == 0 && argc == 4) status = link_fuzz(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    else if (strcmp(mode, "seal") == 0 || strcmp(mode, "verify") == 0 || strcmp(mode, "encode-hello-ack") == 0
             || strcmp(mode, "encode-state") == 0) status = run_authenticated(mode, argc, argv);
    if (status == 2) fprintf(stderr, "usage: see the comment at the top of firmware/host/frame_tool.c\n");
    return status;
}
