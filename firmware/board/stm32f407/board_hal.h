/* The STM32F407 HAL behind rr_hal: clock tree, USART1 (RX ring + TX DMA), TIM5 clock, TIM3 PWM with
 * direction pins, four quadrature-encoder timers, RNG. See board_config.h for the pins. */
#ifndef BOARD_HAL_H
#define BOARD_HAL_H

#include <stdint.h>

#include "rr_hal.h"

/* Clocks, pins and peripherals up; fills hal. Motors at zero duty. */
void board_init(rr_hal *hal);

/* Interrupt handlers (the vector table's). */
void board_usart1_irq(void);
void board_dma2_stream7_irq(void);

#endif /* BOARD_HAL_H */
