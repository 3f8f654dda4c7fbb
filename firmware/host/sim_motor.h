/* Simulated joint for the host build: a rigid inertia with viscous friction,
 *   J * dv/dt = torque - b * v,   dq/dt = v,
 * integrated with a fixed step (semi-implicit Euler, the friction term implicit: stable for any b). */
#ifndef SIM_MOTOR_H
#define SIM_MOTOR_H

#define SIM_MOTOR_INERTIA 0.01f /* kg m^2, default J */
#define SIM_MOTOR_DAMPING 0.1f  /* Nm s/rad, default b: 1 Nm -> 10 rad/s steady state, tau = J/b = 0.1 s */

typedef struct {
    float inertia;  /* kg m^2, > 0 */
    float damping;  /* Nm s/rad, >= 0 */
    float position; /* rad */
    float velocity; /* rad/s */
    float torque;   /* Nm, applied until the next step */
} sim_motor;

void sim_motor_init(sim_motor *motor, float inertia, float damping);

/* Advance by dt seconds under motor->torque. */
void sim_motor_step(sim_motor *motor, float dt);

#endif /* SIM_MOTOR_H */
