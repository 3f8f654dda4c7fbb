/* STM32F407 HAL: real register code for the clock tree, USART1, DMA2, TIM1-5/8, GPIO and RNG (see
 * stm32f407_regs.h for where each register comes from, board_config.h for the pins). The only globals
 * of the MCU build live here: peripheral state shared with the interrupt handlers. */
#include "board_hal.h"

#include <string.h>

#include "board_config.h"
#include "stm32f407_regs.h"

#define RX_RING 1024u /* > 5 ms of a 2 Mbaud line: the app drains at most RR_APP_RX_BYTES_PER_TICK per 1 ms tick */
#define TX_BUFFER 512u /* bytes per DMA buffer: more than a tick's frames (STATE of 4 joints is 88 bytes) */
#define TWO_PI 6.28318530718f

static volatile uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head, rx_tail, rx_overruns;
static uint8_t tx_buffer[2][TX_BUFFER];
static volatile uint32_t tx_pending_len, tx_dropped;
static volatile unsigned tx_pending, tx_busy;

typedef struct {
    uint32_t timer;        /* base address */
    uint16_t last_count;
    int32_t counts;        /* unwrapped */
    float position, velocity;
} encoder;

static encoder encoders[BOARD_JOINTS] = {{TIM1_BASE, 0, 0, 0.0f, 0.0f}, {TIM8_BASE, 0, 0, 0.0f, 0.0f},
                                         {TIM2_BASE, 0, 0, 0.0f, 0.0f}, {TIM4_BASE, 0, 0, 0.0f, 0.0f}};
static uint32_t last_read_us;

static void irq_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static void irq_on(void) { __asm volatile("cpsie i" ::: "memory"); }

static void clock_init(void) { /* 8 MHz HSE -> PLL: 168 MHz SYSCLK, 42 MHz APB1 (84 MHz timers), 84 MHz APB2, 48 MHz Q */
    FLASH_ACR = FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    RCC_CR |= RCC_CR_HSEON;
    while (!(RCC_CR & RCC_CR_HSERDY)) {}
    RCC_PLLCFGR = 8u | (336u << 6) | (0u << 16) | RCC_PLLCFGR_PLLSRC_HSE | (7u << 24); /* M 8, N 336, P 2, Q 7 */
    RCC_CR |= RCC_CR_PLLON;
    while (!(RCC_CR & RCC_CR_PLLRDY)) {}
    RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {}
}

static void pin_mode(uint32_t port, uint32_t pin, uint32_t mode, uint32_t alternate) {
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (mode << (2u * pin));
    GPIO_OSPEEDR(port) |= 3u << (2u * pin);
    const uint32_t shift = 4u * (pin % 8u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift)) | (alternate << shift);
}

static void pins_init(void) {
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN | RCC_AHB1ENR_GPIOBEN | RCC_AHB1ENR_GPIOCEN | RCC_AHB1ENR_GPIODEN
                 | RCC_AHB1ENR_GPIOEEN | RCC_AHB1ENR_DMA2EN;
    pin_mode(GPIO_PORT_A, 9, GPIO_MODE_AF, 7);   /* USART1 TX */
    pin_mode(GPIO_PORT_A, 10, GPIO_MODE_AF, 7);  /* USART1 RX */
    pin_mode(GPIO_PORT_B, 4, GPIO_MODE_AF, 2);   /* TIM3 CH1..CH4: PWM */
    pin_mode(GPIO_PORT_B, 5, GPIO_MODE_AF, 2);
    pin_mode(GPIO_PORT_B, 0, GPIO_MODE_AF, 2);
    pin_mode(GPIO_PORT_B, 1, GPIO_MODE_AF, 2);
    for (uint32_t j = 0; j < BOARD_JOINTS; ++j) pin_mode(GPIO_PORT_E, j, GPIO_MODE_OUTPUT, 0); /* direction */
    pin_mode(GPIO_PORT_E, 9, GPIO_MODE_AF, 1);   /* TIM1 CH1/CH2: encoder 1 */
    pin_mode(GPIO_PORT_E, 11, GPIO_MODE_AF, 1);
    pin_mode(GPIO_PORT_C, 6, GPIO_MODE_AF, 3);   /* TIM8: encoder 2 */
    pin_mode(GPIO_PORT_C, 7, GPIO_MODE_AF, 3);
    pin_mode(GPIO_PORT_A, 15, GPIO_MODE_AF, 1);  /* TIM2: encoder 3 */
    pin_mode(GPIO_PORT_B, 3, GPIO_MODE_AF, 1);
    pin_mode(GPIO_PORT_D, 12, GPIO_MODE_AF, 2);  /* TIM4: encoder 4 */
    pin_mode(GPIO_PORT_D, 13, GPIO_MODE_AF, 2);
}

static void timers_init(void) {
    RCC_APB1ENR |= RCC_APB1ENR_TIM2EN | RCC_APB1ENR_TIM3EN | RCC_APB1ENR_TIM4EN | RCC_APB1ENR_TIM5EN;
    RCC_APB2ENR |= RCC_APB2ENR_TIM1EN | RCC_APB2ENR_TIM8EN;
    TIM_PSC(TIM5_BASE) = BOARD_APB1_TIMER_HZ / 1000000u - 1u; /* 1 MHz, 32 bit: the firmware clock */
    TIM_ARR(TIM5_BASE) = 0xFFFFFFFFu;
    TIM_EGR(TIM5_BASE) = TIM_EGR_UG;
    TIM_CR1(TIM5_BASE) = TIM_CR1_CEN;
    TIM_PSC(TIM3_BASE) = 0;
    TIM_ARR(TIM3_BASE) = BOARD_APB1_TIMER_HZ / BOARD_PWM_HZ - 1u;
    TIM_CCMR1(TIM3_BASE) = TIM_CCMR_OC_PWM1(0) | TIM_CCMR_OC_PWM1(1);
    TIM_CCMR2(TIM3_BASE) = TIM_CCMR_OC_PWM1(0) | TIM_CCMR_OC_PWM1(1);
    for (uint32_t channel = 1; channel <= 4u; ++channel) TIM_CCR(TIM3_BASE, channel) = 0;
    TIM_CCER(TIM3_BASE) = TIM_CCER_CCE(1) | TIM_CCER_CCE(2) | TIM_CCER_CCE(3) | TIM_CCER_CCE(4);
    TIM_EGR(TIM3_BASE) = TIM_EGR_UG;
    TIM_CR1(TIM3_BASE) = TIM_CR1_ARPE | TIM_CR1_CEN;
    for (uint32_t j = 0; j < BOARD_JOINTS; ++j) {
        const uint32_t timer = encoders[j].timer;
        TIM_CCMR1(timer) = TIM_CCMR_CC1S_TI1 | TIM_CCMR_CC2S_TI2;
        TIM_SMCR(timer) = TIM_SMCR_SMS_ENCODER3;
        TIM_ARR(timer) = 0xFFFFu; /* read as 16 bit on every timer, unwrapped per tick */
        TIM_CR1(timer) = TIM_CR1_CEN;
        encoders[j].last_count = (uint16_t)TIM_CNT(timer);
    }
}

static void usart_init(void) {
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART1_BRR = 0x2Au; /* 84 MHz / (16 x 2.625) = 2 Mbaud exactly */
    USART1_CR3 = USART_CR3_DMAT;
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    DMA2_S7PAR = (uint32_t)(uintptr_t)&USART1_DR;
    DMA2_S7CR = DMA_SxCR_CHSEL(4) | DMA_SxCR_MINC | DMA_SxCR_DIR_M2P | DMA_SxCR_TCIE;
    NVIC_ISER(IRQ_USART1) = 1u << (IRQ_USART1 % 32u);
    NVIC_ISER(IRQ_DMA2_STREAM7) = 1u << (IRQ_DMA2_STREAM7 % 32u);
}

void board_usart1_irq(void) {
    const uint32_t status = USART1_SR;
    if (status & (USART_SR_RXNE | USART_SR_ORE)) {
        const uint8_t byte = (uint8_t)USART1_DR; /* reading DR after SR also clears ORE */
        if (rx_head - rx_tail < RX_RING) rx_ring[rx_head++ % RX_RING] = byte;
        else rx_overruns += 1u;
    }
}

static void tx_start(void) { /* interrupts off or in the DMA handler */
    DMA2_HIFCR = DMA_HIFCR_STREAM7_ALL;
    DMA2_S7M0AR = (uint32_t)(uintptr_t)tx_buffer[tx_pending];
    DMA2_S7NDTR = tx_pending_len;
    DMA2_S7CR |= DMA_SxCR_EN;
    tx_busy = 1;
    tx_pending ^= 1u;
    tx_pending_len = 0;
}

void board_dma2_stream7_irq(void) {
    DMA2_HIFCR = DMA_HIFCR_STREAM7_ALL;
    tx_busy = 0;
    if (tx_pending_len > 0u) tx_start();
}

static uint32_t now_us(void *ctx) {
    (void)ctx;
    return TIM_CNT(TIM5_BASE);
}

static void read_encoders(void *ctx, unsigned n, float *position, float *velocity) {
    (void)ctx;
    const uint32_t now = TIM_CNT(TIM5_BASE);
    const float dt = (float)(now - last_read_us) * 1e-6f;
    last_read_us = now;
    for (unsigned j = 0; j < n && j < BOARD_JOINTS; ++j) {
        encoder *e = &encoders[j];
        const uint16_t count = (uint16_t)TIM_CNT(e->timer);
        e->counts += (int16_t)(uint16_t)(count - e->last_count);
        e->last_count = count;
        const float q = (float)e->counts * (TWO_PI / BOARD_ENCODER_COUNTS_PER_REV);
        if (dt > 0.0f) e->velocity += BOARD_VELOCITY_FILTER * ((q - e->position) / dt - e->velocity);
        e->position = q;
        position[j] = q;
        velocity[j] = e->velocity;
    }
}

static void write_torques(void *ctx, unsigned n, const float *torque) {
    (void)ctx;
    const float full = (float)(TIM_ARR(TIM3_BASE) + 1u);
    for (unsigned j = 0; j < n && j < BOARD_JOINTS; ++j) {
        float duty = (torque[j] < 0.0f ? -torque[j] : torque[j]) / BOARD_TORQUE_AT_FULL_DUTY_NM;
        if (!(duty >= 0.0f)) duty = 0.0f; /* NaN: off (the core never sends one) */
        if (duty > 1.0f) duty = 1.0f;
        GPIO_BSRR(GPIO_PORT_E) = torque[j] < 0.0f ? 1u << j : 1u << (j + 16u); /* direction: set = reverse */
        TIM_CCR(TIM3_BASE, j + 1u) = (uint32_t)(duty * full);
    }
}

static size_t serial_read(void *ctx, uint8_t *buf, size_t cap) {
    (void)ctx;
    size_t got = 0;
    while (got < cap && rx_tail != rx_head) buf[got++] = rx_ring[rx_tail++ % RX_RING];
    return got;
}

static void serial_write(void *ctx, const uint8_t *frame, size_t len) {
    (void)ctx;
    irq_off();
    if (len > TX_BUFFER - tx_pending_len) {
        tx_dropped += 1u; /* dropped whole, never torn */
    } else {
        memcpy(tx_buffer[tx_pending] + tx_pending_len, frame, len);
        tx_pending_len += (uint32_t)len;
        if (!tx_busy) tx_start();
    }
    irq_on();
}

static void random_bytes(void *ctx, uint8_t *buf, size_t len) {
    (void)ctx;
    for (size_t i = 0; i < len;) {
        const uint32_t status = RNG_SR;
        if (status & (RNG_SR_CECS | RNG_SR_SECS)) { /* clock or seed error: restart, discard (RM0090 24.3.2) */
            RNG_CR = 0;
            RNG_CR = RNG_CR_RNGEN;
            continue;
        }
        if (!(status & RNG_SR_DRDY)) continue;
        uint32_t word = RNG_DR;
        for (unsigned b = 0; b < 4u && i < len; ++b, word >>= 8) buf[i++] = (uint8_t)word;
    }
}

void board_init(rr_hal *hal) {
    clock_init();
    pins_init();
    timers_init();
    usart_init();
    RCC_AHB2ENR |= RCC_AHB2ENR_RNGEN;
    RNG_CR = RNG_CR_RNGEN;
    last_read_us = TIM_CNT(TIM5_BASE);
    hal->ctx = NULL;
    hal->now_us = now_us;
    hal->read_encoders = read_encoders;
    hal->write_torques = write_torques;
    hal->serial_read = serial_read;
    hal->serial_write = serial_write;
    hal->random = random_bytes;
}
