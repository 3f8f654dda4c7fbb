#define _POSIX_C_SOURCE 200809L
#include "host_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_key(const char *text, size_t len, uint8_t key[RR_KEY_SIZE]) {
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) --len;
    if (len != 2u * RR_KEY_SIZE) return -1;
    for (unsigned i = 0; i < RR_KEY_SIZE; ++i) {
        const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        key[i] = (uint8_t)(hi * 16 + lo);
    }
    return 0;
}

int host_key_load(const char *path, uint8_t key[RR_KEY_SIZE], char *error, unsigned error_size) {
    char text[4 * RR_KEY_SIZE];
    struct stat info;
    const int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(error, error_size, "key file %s: %s (create one with `robot-rl firmware provision --key-file %s`)",
                 path, strerror(errno), path);
        return -1;
    }
    const ssize_t len = fstat(fd, &info) == 0 ? read(fd, text, sizeof text) : -1;
    close(fd);
    int status = -1;
    if (len < 0) snprintf(error, error_size, "key file %s: cannot read it", path);
    else if (info.st_mode & (S_IRWXG | S_IRWXO))
        snprintf(error, error_size, "key file %s is accessible to group/others (mode %o): chmod 600 it", path,
                 (unsigned)(info.st_mode & 0777u));
    else if (parse_key(text, (size_t)len, key) != 0)
        snprintf(error, error_size, "key file %s must hold %u hex digits", path, 2u * RR_KEY_SIZE);
    else status = 0;
    memset(text, 0, sizeof text);
    return status;
}
