/* Reset handler and vector table of the STM32F407 (RM0090 table 61: 82 interrupts after the 16 core
 * exceptions). Faults stop in `halt` with the PWM at its last duty: the independent watchdog (IWDG) that
 * would reset the chip then is not configured yet (see firmware/README.md). Interrupts this firmware never
 * enables have no entry (0). */
#include <stdint.h>

#include "board_hal.h"
#include "stm32f407_regs.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void board_systick_irq(void);

void reset_handler(void) {
    SCB_CPACR |= SCB_CPACR_CP10_CP11_FULL; /* the FPU, before any float instruction */
    __asm volatile("dsb\n isb" ::: "memory");
    for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    main();
    for (;;) {}
}

static void halt(void) {
    __asm volatile("cpsid i");
    for (;;) {}
}

#define IRQS 82u
typedef void (*handler)(void);

__attribute__((section(".isr_vector"), used)) static const handler vectors[16u + IRQS] = {
    [0] = (handler)(uintptr_t)&_estack,
    [1] = reset_handler,
    [2] = halt,  /* NMI */
    [3] = halt,  /* HardFault */
    [4] = halt,  /* MemManage */
    [5] = halt,  /* BusFault */
    [6] = halt,  /* UsageFault */
    [11] = halt, /* SVCall */
    [14] = halt, /* PendSV */
    [15] = board_systick_irq,
    [16u + IRQ_USART1] = board_usart1_irq,
    [16u + IRQ_DMA2_STREAM7] = board_dma2_stream7_irq,
};
