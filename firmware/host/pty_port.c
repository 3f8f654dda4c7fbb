#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include "pty_port.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int make_raw(int fd) {
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) return -1;
    cfmakeraw(&tio);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &tio);
}

int pty_port_open(pty_port *port) {
    port->master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    port->slave_fd = -1;
    if (port->master_fd < 0) return -1;
    const char *name = NULL;
    if (grantpt(port->master_fd) != 0 || unlockpt(port->master_fd) != 0 || (name = ptsname(port->master_fd)) == NULL) {
        pty_port_close(port);
        return -1;
    }
    snprintf(port->slave_path, sizeof port->slave_path, "%s", name);
    port->slave_fd = open(port->slave_path, O_RDWR | O_NOCTTY);
    const int flags = fcntl(port->master_fd, F_GETFL);
    if (port->slave_fd < 0 || make_raw(port->slave_fd) != 0
        || flags < 0 || fcntl(port->master_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        pty_port_close(port);
        return -1;
    }
    return 0;
}

void pty_port_close(pty_port *port) {
    if (port->slave_fd >= 0) close(port->slave_fd);
    if (port->master_fd >= 0) close(port->master_fd);
    port->slave_fd = port->master_fd = -1;
}
