#include "sim_motor.h"

void sim_motor_init(sim_motor *motor, float inertia, float damping) {
    motor->inertia = inertia;
    motor->damping = damping;
    motor->position = 0.0f;
    motor->velocity = 0.0f;
    motor->torque = 0.0f;
}

void sim_motor_step(sim_motor *motor, float dt) {
    const float momentum = motor->inertia * motor->velocity + dt * motor->torque;
    motor->velocity = momentum / (motor->inertia + dt * motor->damping);
    motor->position += dt * motor->velocity;
}
