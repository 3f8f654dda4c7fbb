/* rr_firmware_stm32f407: the firmware core (rr_app) on the board of board_config.h, ticking at 1 kHz from
 * SysTick. The key comes from the key block in flash (BOARD_KEY_ADDRESS); without a valid one the firmware
 * never opens a session, so no command is ever applied (the motors stay at zero duty). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board_config.h"
#include "board_hal.h"
#include "rr_app.h"
#include "stm32f407_regs.h"

/* The 64-byte key block: magic u32 | key[32] | crc16 u16 of the key (CRC-16/CCITT-FALSE) | 0xFF padding. */
typedef struct {
    uint32_t magic;
    uint8_t key[RR_KEY_SIZE];
    uint16_t crc;
} key_block;

static volatile uint32_t ticks_due; /* set by SysTick, consumed by the main loop */

void board_systick_irq(void) { ticks_due += 1u; }

static const uint8_t *provisioned_key(void) {
    const key_block *block = (const key_block *)(uintptr_t)BOARD_KEY_ADDRESS;
    if (block->magic != BOARD_KEY_MAGIC || rr_crc16(block->key, RR_KEY_SIZE) != block->crc) return NULL;
    return block->key;
}

static void config_init(rr_config *config) {
    memset(config, 0, sizeof *config);
    config->n_joints = BOARD_JOINTS;
    config->watchdog_timeout_ms = BOARD_WATCHDOG_MS;
    for (unsigned j = 0; j < BOARD_JOINTS; ++j) {
        config->torque_limit[j] = BOARD_TORQUE_LIMIT_NM;
        config->brake_damping[j] = BOARD_BRAKE_DAMPING;
    }
}

int main(void) {
    static rr_app app;
    static rr_hal hal;
    rr_config config;
    board_init(&hal);
    config_init(&config);
    const uint8_t *key = provisioned_key();
    if (key == NULL || rr_app_init(&app, &hal, &config, key) != NULL) {
        for (;;) __asm volatile("wfi"); /* unprovisioned: never run (PWM stays at zero duty) */
    }
    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_TICKINT_CORECLK;
    for (uint32_t done = 0;;) {
        while (ticks_due == done) __asm volatile("wfi");
        done += 1u; /* a late tick runs at once; the firmware time is the TIM5 clock, not a tick count */
        rr_app_tick(&app);
    }
}
