/* SHA-256 and HMAC-SHA256 against published vectors (FIPS 180-4 examples, RFC 4231 test cases 1-7),
 * and frame sealing: every 1- and 2-bit flip of a sealed frame fails the tag (CRC aside). */
#include <string.h>

#include "check.h"
#include "rr_auth.h"

static void hex_to_bytes(const char *hex, uint8_t *out) {
    for (size_t i = 0; hex[2 * i] != '\0'; ++i) {
        unsigned byte = 0;
        for (int k = 0; k < 2; ++k) {
            const char c = hex[2 * i + (size_t)k];
            byte = byte * 16u + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)byte;
    }
}

static int digest_is(const uint8_t *digest, const char *hex) {
    uint8_t expected[RR_SHA256_DIGEST];
    hex_to_bytes(hex, expected);
    return memcmp(digest, expected, strlen(hex) / 2) == 0;
}

static void test_sha256_vectors(void) {
    uint8_t digest[RR_SHA256_DIGEST];
    rr_sha256 hash;
    rr_sha256_init(&hash);
    rr_sha256_final(&hash, digest);
    CHECK(digest_is(digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    rr_sha256_init(&hash);
    rr_sha256_update(&hash, (const uint8_t *)"abc", 3);
    rr_sha256_final(&hash, digest);
    CHECK(digest_is(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rr_sha256_init(&hash);
    for (size_t i = 0; two_blocks[i] != '\0'; ++i) rr_sha256_update(&hash, (const uint8_t *)two_blocks + i, 1);
    rr_sha256_final(&hash, digest);
    CHECK(digest_is(digest, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
}

typedef struct {
    uint8_t key_byte;
    size_t key_len;      /* 0: the key is 0x01 .. 0x19 (test case 4) or "Jefe" (key_byte 'J') */
    const char *data;    /* text, or NULL: data_byte x data_len */
    uint8_t data_byte;
    size_t data_len;
    const char *hmac;    /* RFC 4231 HMAC-SHA-256 (test case 5: the first 128 bits) */
} rfc4231_case;

static const rfc4231_case RFC4231[] = {
    {0x0b, 20, "Hi There", 0, 0, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {'J', 0, "what do ya want for nothing?", 0, 0, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {0xaa, 20, NULL, 0xdd, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {0x00, 0, NULL, 0xcd, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {0x0c, 20, "Test With Truncation", 0, 0, "a3b6167473100ee06e0c796c2955552b"},
    {0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {0xaa, 131, "This is a test using a larger than block-size key and a larger than block-size data. The key needs "
                "to be hashed before being used by the HMAC algorithm.", 0, 0,
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static void test_hmac_rfc4231(void) {
    for (size_t t = 0; t < sizeof RFC4231 / sizeof RFC4231[0]; ++t) {
        const rfc4231_case *c = &RFC4231[t];
        uint8_t key[131], data[200], mac[RR_SHA256_DIGEST];
        size_t key_len = c->key_len, data_len = c->data_len;
        if (c->key_byte == 'J') { memcpy(key, "Jefe", 4); key_len = 4; }
        else if (key_len == 0) { for (key_len = 0; key_len < 25; ++key_len) key[key_len] = (uint8_t)(key_len + 1); }
        else memset(key, c->key_byte, key_len);
        if (c->data != NULL) { data_len = strlen(c->data); memcpy(data, c->data, data_len); }
        else memset(data, c->data_byte, data_len);
        rr_hmac_key schedule;
        rr_hmac hmac;
        rr_hmac_key_init(&schedule, key, key_len);
        rr_hmac_start(&hmac, &schedule);
        rr_hmac_update(&hmac, data, data_len);
        rr_hmac_finish(&hmac, mac);
        CHECK(digest_is(mac, c->hmac));
    }
}

static size_t parse_one(const uint8_t *bytes, size_t len, rr_frame *frame) {
    rr_parser parser;
    rr_parser_init(&parser);
    rr_parser_feed(&parser, bytes, len);
    return rr_parser_next(&parser, frame) ? 1u : 0u;
}

static void test_sealed_frames_and_bit_flips(void) {
    uint8_t key[RR_KEY_SIZE], other[RR_KEY_SIZE], frame[RR_FRAME_MAX];
    for (unsigned i = 0; i < RR_KEY_SIZE; ++i) { key[i] = (uint8_t)(7u * i + 1u); other[i] = key[i]; }
    other[31] ^= 1u;
    rr_auth auth, wrong;
    rr_auth_init(&auth, key);
    rr_auth_init(&wrong, other);
    rr_auth_set_session(&auth, 0x0102030405060708ull, 0x1122334455667788ull);
    memcpy(wrong.session, auth.session, sizeof auth.session);
    const uint8_t body[8] = {1, 0, 0, 0, 0, 0, 0x80, 0x3f}; /* command_time_us 1, torque 1.0 Nm */
    const size_t len = rr_seal(&auth, NULL, RR_MSG_TORQUE_COMMAND, body, sizeof body, 42u, frame, sizeof frame);
    rr_frame parsed;
    CHECK(len == RR_HEADER_SIZE + sizeof body + RR_AUTH_TRAILER_SIZE + RR_CRC_SIZE);
    CHECK(parse_one(frame, len, &parsed) == 1u && rr_verify(&auth, NULL, &parsed) && rr_frame_counter(&parsed) == 42u);
    CHECK(!rr_verify(&wrong, NULL, &parsed));
    static const uint8_t zero_session[RR_SESSION_SIZE] = {0};
    CHECK(!rr_verify(&auth, zero_session, &parsed));
    /* Flip bits of id | len | payload | tag and fix the CRC (an attacker's best case): the tag must fail. */
    unsigned flips = 0, undetected = 0;
    const size_t bits = 8u * (len - RR_CRC_SIZE - 2u);
    for (size_t a = 0; a < bits; ++a) {
        for (size_t b = a; b < bits; ++b) {
            uint8_t copy[RR_FRAME_MAX];
            memcpy(copy, frame, len);
            copy[2 + a / 8] ^= (uint8_t)(1u << (a % 8));
            if (b != a) copy[2 + b / 8] ^= (uint8_t)(1u << (b % 8));
            const uint16_t crc = rr_crc16(copy + 2, len - 4);
            copy[len - 2] = (uint8_t)crc;
            copy[len - 1] = (uint8_t)(crc >> 8);
            ++flips;
            if (parse_one(copy, len, &parsed) && rr_verify(&auth, NULL, &parsed)) ++undetected;
        }
    }
    CHECK(flips == bits * (bits + 1) / 2 && undetected == 0u);
}

void test_auth(void) {
    test_sha256_vectors();
    test_hmac_rfc4231();
    test_sealed_frames_and_bit_flips();
}
