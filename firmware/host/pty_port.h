/* A pseudo-terminal standing in for the firmware's serial port. */
#ifndef PTY_PORT_H
#define PTY_PORT_H

#include <stddef.h>

typedef struct {
    int master_fd; /* the firmware side: non-blocking */
    int slave_fd;  /* kept open so the master never sees a hang-up between host connections */
    char slave_path[128];
} pty_port;

/* Opens a raw-mode pty; returns 0, or -1 with errno set. */
int pty_port_open(pty_port *port);
void pty_port_close(pty_port *port);

#endif /* PTY_PORT_H */
