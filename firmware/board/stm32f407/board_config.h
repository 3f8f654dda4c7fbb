/* The board this build targets: an STM32F407 (Cortex-M4F, 1 MB flash, 128 KB SRAM) at 168 MHz from an
 * 8 MHz crystal, driving BOARD_JOINTS brushed-motor joints through sign-magnitude H-bridges.
 *
 *   joint j (1..4)   PWM (20 kHz)        direction (GPIO)   quadrature encoder (A / B)
 *   1                TIM3_CH1 PB4 AF2    PE0                TIM1  PE9 / PE11 AF1
 *   2                TIM3_CH2 PB5 AF2    PE1                TIM8  PC6 / PC7  AF3
 *   3                TIM3_CH3 PB0 AF2    PE2                TIM2  PA15 / PB3 AF1
 *   4                TIM3_CH4 PB1 AF2    PE3                TIM4  PD12 / PD13 AF2
 *   serial: USART1 TX PA9 / RX PA10 AF7, 2 Mbaud 8N1 (RX interrupt into a ring, TX by DMA2 stream 7)
 *   clock: TIM5, 32 bit, 1 MHz (the firmware's microsecond clock); tick: SysTick at 1 kHz
 *   nonces: the on-chip RNG
 *   key: the 64-byte block `robot-rl firmware provision --mcu-key-image` writes, flashed at BOARD_KEY_ADDRESS
 *
 * The numbers below (limits, motor constant, encoder resolution) are this example wiring's, not a robot's:
 * set them for the arm. */
#ifndef BOARD_CONFIG_H
#define BOARD_CONFIG_H

#define BOARD_JOINTS 4u
#define BOARD_TORQUE_LIMIT_NM 5.0f
#define BOARD_BRAKE_DAMPING 0.5f          /* Nm s/rad */
#define BOARD_WATCHDOG_MS 100u
#define BOARD_TORQUE_AT_FULL_DUTY_NM 6.0f /* motor torque at 100 % PWM (stall, at the supply voltage) */
#define BOARD_ENCODER_COUNTS_PER_REV 16384.0f /* x4 quadrature counts per joint revolution */
#define BOARD_VELOCITY_FILTER 0.2f        /* first-order low-pass weight of the per-tick velocity estimate */
#define BOARD_KEY_ADDRESS 0x080E0000u     /* flash sector 11: the key block, outside the program image */
#define BOARD_KEY_MAGIC 0x314B5252u       /* "RRK1", little-endian */

#define BOARD_SYSCLK_HZ 168000000u
#define BOARD_APB1_TIMER_HZ 84000000u
#define BOARD_PWM_HZ 20000u

#endif /* BOARD_CONFIG_H */
