/* rr_firmware_host: the firmware core (rr_app) against simulated motors, over a pseudo-terminal,
 * ticking at 1 kHz on the wall clock (CLOCK_MONOTONIC, absolute deadlines). Firmware time counts
 * executed ticks; when the process was not scheduled, missed ticks run back to back (at most
 * HOST_MAX_CATCH_UP), beyond that the schedule restarts from now. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host_hal.h"
#include "host_key.h"
#include "host_options.h"
#include "pty_port.h"
#include "rr_app.h"

#define HOST_TICK_NS 1000000L
#define HOST_MAX_CATCH_UP 100

/* The host shell's only globals, set by signals: stop (SIGTERM, SIGINT); an encoder glitch (SIGUSR1: the
 * next tick's encoders read NaN, as a broken encoder line would, and the firmware latches a fault). */
static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t glitch_requested = 0;

static void on_signal(int signo) {
    if (signo == SIGUSR1) glitch_requested = 1;
    else stop_requested = 1;
}

static int install_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGTERM, &action, NULL) | sigaction(SIGINT, &action, NULL) | sigaction(SIGUSR1, &action, NULL);
}

static void add_ns(struct timespec *t, long ns) {
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) { t->tv_nsec -= 1000000000L; t->tv_sec += 1; }
}

static int before_or_at(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

static void run_tick(rr_app *app, host_hal_ctx *ctx) {
    ctx->encoder_glitch = glitch_requested;
    glitch_requested = 0;
    rr_app_tick(app);
    for (unsigned j = 0; j < ctx->n_joints; ++j) sim_motor_step(&ctx->motors[j], (float)HOST_TICK_NS * 1e-9f);
    ctx->now_us += (uint32_t)(HOST_TICK_NS / 1000L);
}

static void run_loop(rr_app *app, host_hal_ctx *ctx) {
    struct timespec deadline, now;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    while (!stop_requested) {
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR) continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int ran = 0;
        for (; before_or_at(&deadline, &now) && ran < HOST_MAX_CATCH_UP; ++ran) {
            run_tick(app, ctx);
            add_ns(&deadline, HOST_TICK_NS);
        }
        if (ran == HOST_MAX_CATCH_UP) deadline = now; /* too far behind: restart the schedule */
        host_hal_flush(ctx);
    }
}

static void init_motors(host_hal_ctx *ctx, const host_options *options, int fd) {
    memset(ctx, 0, sizeof *ctx);
    ctx->fd = fd;
    ctx->urandom_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ctx->n_joints = options->config.n_joints;
    ctx->line_noise_every = options->line_noise_every;
    for (unsigned j = 0; j < ctx->n_joints; ++j) {
        sim_motor_init(&ctx->motors[j], options->inertia, options->damping);
        ctx->motors[j].position = options->initial_position[j];
    }
}

int main(int argc, char **argv) {
    static host_options options;
    static host_hal_ctx ctx;
    static rr_app app;
    char error[512];
    uint8_t key[RR_KEY_SIZE];
    if (host_options_parse(argc, argv, &options, error, sizeof error) != 0) {
        fprintf(stderr, "rr_firmware_host: %s\n%s", error, HOST_USAGE);
        return 2;
    }
    if (host_key_load(options.key_file, key, error, sizeof error) != 0) {
        fprintf(stderr, "rr_firmware_host: %s\n", error);
        return 2;
    }
    pty_port port;
    if (install_signals() != 0 || pty_port_open(&port) != 0) {
        fprintf(stderr, "rr_firmware_host: cannot open a pseudo-terminal: %s\n", strerror(errno));
        return 1;
    }
    rr_hal hal;
    init_motors(&ctx, &options, port.master_fd);
    host_hal_bind(&hal, &ctx);
    if (ctx.urandom_fd < 0) {
        fprintf(stderr, "rr_firmware_host: cannot open /dev/urandom: %s\n", strerror(errno));
        return 1;
    }
    rr_app_init(&app, &hal, &options.config, key); /* the config was validated by host_options_parse */
    memset(key, 0, sizeof key);
#ifdef RR_BENCH_NULL_MAC
    fprintf(stderr, "rr_firmware_host: INSECURE benchmark build: every tag is zero, nothing is authenticated\n");
#endif
    printf("%s\n", port.slave_path);
    fflush(stdout);
    run_loop(&app, &ctx);
    pty_port_close(&port);
    fprintf(stderr, "rr_firmware_host: stopped (%llu STATE frames dropped: reader behind)\n",
            (unsigned long long)ctx.tx_dropped_frames);
    return 0;
}
