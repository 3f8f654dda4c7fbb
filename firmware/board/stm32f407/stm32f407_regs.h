/* STM32F407 register definitions used by this board's HAL, written from the reference manual RM0090
 * (rev 19): memory map (section 2.3), RCC (6.3), GPIO (8.4), TIM1/8 (17.4), TIM2-5 (18.4), USART (30.6),
 * DMA (10.5), RNG (24.4), FLASH (3.9), and the Cortex-M4 SysTick/NVIC (PM0214). Only what is used. */
#ifndef STM32F407_REGS_H
#define STM32F407_REGS_H

#include <stdint.h>

#define REG32(address) (*(volatile uint32_t *)(uintptr_t)(address))

/* RCC (0x4002 3800) */
#define RCC_BASE 0x40023800u
#define RCC_CR REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04u)
#define RCC_CFGR REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30u)
#define RCC_AHB2ENR REG32(RCC_BASE + 0x34u)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40u)
#define RCC_APB2ENR REG32(RCC_BASE + 0x44u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_PLLSRC_HSE (1u << 22)
#define RCC_CFGR_SW_PLL 0x2u
#define RCC_CFGR_SWS_MASK (0x3u << 2)
#define RCC_CFGR_SWS_PLL (0x2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (0x5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (0x4u << 13)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_GPIOBEN (1u << 1)
#define RCC_AHB1ENR_GPIOCEN (1u << 2)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_AHB1ENR_GPIOEEN (1u << 4)
#define RCC_AHB1ENR_DMA2EN (1u << 22)
#define RCC_AHB2ENR_RNGEN (1u << 6)
#define RCC_APB1ENR_TIM2EN (1u << 0)
#define RCC_APB1ENR_TIM3EN (1u << 1)
#define RCC_APB1ENR_TIM4EN (1u << 2)
#define RCC_APB1ENR_TIM5EN (1u << 3)
#define RCC_APB2ENR_TIM1EN (1u << 0)
#define RCC_APB2ENR_TIM8EN (1u << 1)
#define RCC_APB2ENR_USART1EN (1u << 4)

/* FLASH interface (0x4002 3C00) */
#define FLASH_ACR REG32(0x40023C00u)
#define FLASH_ACR_LATENCY_5WS 0x5u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

/* GPIO ports A..E (0x4002 0000 + 0x400 * port) */
#define GPIO_BASE(port) (0x40020000u + 0x400u * (uint32_t)(port))
#define GPIO_MODER(port) REG32(GPIO_BASE(port) + 0x00u)
#define GPIO_OSPEEDR(port) REG32(GPIO_BASE(port) + 0x08u)
#define GPIO_PUPDR(port) REG32(GPIO_BASE(port) + 0x0Cu)
#define GPIO_BSRR(port) REG32(GPIO_BASE(port) + 0x18u)
#define GPIO_AFR(port, pin) REG32(GPIO_BASE(port) + ((pin) < 8u ? 0x20u : 0x24u))
#define GPIO_PORT_A 0u
#define GPIO_PORT_B 1u
#define GPIO_PORT_C 2u
#define GPIO_PORT_D 3u
#define GPIO_PORT_E 4u
#define GPIO_MODE_OUTPUT 0x1u
#define GPIO_MODE_AF 0x2u

/* General-purpose and advanced timers: the registers this HAL uses sit at the same offsets in all */
#define TIM1_BASE 0x40010000u
#define TIM8_BASE 0x40010400u
#define TIM2_BASE 0x40000000u
#define TIM3_BASE 0x40000400u
#define TIM4_BASE 0x40000800u
#define TIM5_BASE 0x40000C00u
#define TIM_CR1(base) REG32((base) + 0x00u)
#define TIM_SMCR(base) REG32((base) + 0x08u)
#define TIM_EGR(base) REG32((base) + 0x14u)
#define TIM_CCMR1(base) REG32((base) + 0x18u)
#define TIM_CCMR2(base) REG32((base) + 0x1Cu)
#define TIM_CCER(base) REG32((base) + 0x20u)
#define TIM_CNT(base) REG32((base) + 0x24u)
#define TIM_PSC(base) REG32((base) + 0x28u)
#define TIM_ARR(base) REG32((base) + 0x2Cu)
#define TIM_CCR(base, channel) REG32((base) + 0x34u + 4u * ((channel) - 1u)) /* channel 1..4 */
#define TIM_BDTR(base) REG32((base) + 0x44u)
#define TIM_CR1_CEN (1u << 0)
#define TIM_CR1_ARPE (1u << 7)
#define TIM_EGR_UG (1u << 0)
#define TIM_SMCR_SMS_ENCODER3 0x3u          /* count on both TI1 and TI2 edges: x4 quadrature */
#define TIM_CCMR_CC1S_TI1 (0x1u << 0)        /* CC1 input, mapped on TI1 */
#define TIM_CCMR_CC2S_TI2 (0x1u << 8)        /* CC2 input, mapped on TI2 */
#define TIM_CCMR_OC_PWM1(slot) ((0x6u << 4 | 1u << 3) << (8u * (slot))) /* OCxM = 110, OCxPE; slot 0/1 */
#define TIM_CCER_CCE(channel) (1u << (4u * ((channel) - 1u)))
#define TIM_BDTR_MOE (1u << 15)

/* USART1 (0x4001 1000) */
#define USART1_BASE 0x40011000u
#define USART1_SR REG32(USART1_BASE + 0x00u)
#define USART1_DR REG32(USART1_BASE + 0x04u)
#define USART1_BRR REG32(USART1_BASE + 0x08u)
#define USART1_CR1 REG32(USART1_BASE + 0x0Cu)
#define USART1_CR3 REG32(USART1_BASE + 0x14u)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)
#define USART_CR3_DMAT (1u << 7)

/* DMA2 (0x4002 6400), stream 7 channel 4 = USART1_TX (RM0090 table 43) */
#define DMA2_BASE 0x40026400u
#define DMA2_HIFCR REG32(DMA2_BASE + 0x0Cu)
#define DMA2_S7CR REG32(DMA2_BASE + 0x10u + 0x18u * 7u)
#define DMA2_S7NDTR REG32(DMA2_BASE + 0x14u + 0x18u * 7u)
#define DMA2_S7PAR REG32(DMA2_BASE + 0x18u + 0x18u * 7u)
#define DMA2_S7M0AR REG32(DMA2_BASE + 0x1Cu + 0x18u * 7u)
#define DMA_SxCR_EN (1u << 0)
#define DMA_SxCR_TCIE (1u << 4)
#define DMA_SxCR_DIR_M2P (0x1u << 6)
#define DMA_SxCR_MINC (1u << 10)
#define DMA_SxCR_CHSEL(n) ((uint32_t)(n) << 25)
#define DMA_HIFCR_STREAM7_ALL (0x3Du << 22) /* CTCIF7 CHTIF7 CTEIF7 CDMEIF7 CFEIF7 */

/* RNG (0x5006 0800) */
#define RNG_CR REG32(0x50060800u)
#define RNG_SR REG32(0x50060804u)
#define RNG_DR REG32(0x50060808u)
#define RNG_CR_RNGEN (1u << 2)
#define RNG_SR_DRDY (1u << 0)
#define RNG_SR_CECS (1u << 1)
#define RNG_SR_SECS (1u << 2)

/* Cortex-M4 core: FPU access (CPACR), SysTick, NVIC */
#define SCB_CPACR REG32(0xE000ED88u)
#define SCB_CPACR_CP10_CP11_FULL (0xFu << 20)
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE_TICKINT_CORECLK 0x7u
#define NVIC_ISER(irq) REG32(0xE000E100u + 4u * ((irq) / 32u))
#define IRQ_USART1 37u
#define IRQ_DMA2_STREAM7 70u

#endif /* STM32F407_REGS_H */
