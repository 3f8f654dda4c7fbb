"""``panda-pick-cube`` task logic: a free cube on the table, finger pads with friction, lift success.

The fingers' URDF boxes collide but are plain; this module adds a thin pad box
to the inside of each finger tip (higher friction, torsional friction via
``condim`` 4) so the grasp holds, uses an elliptic friction cone, and gives the
finger joints armature and a force limit so they close at a realistic
speed instead of tunnelling through the cube.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.tasks.spec import TaskSpec

PAD_HALF_SIZE = (0.0085, 0.003, 0.011)  # m: x (width), y (thickness), z (length along the finger)
PAD_CENTER = (0.0, 0.0025, 0.045)  # m in the left finger frame; inner face 0.5 mm proud of the URDF tip box
PAD_FRICTION = (1.5, 0.01, 0.0002)  # sliding, torsional, rolling
FINGER_ARMATURE = 0.01  # kg, reflected motor/gear inertia of each finger joint
FINGER_FORCE = 35.0  # N per finger (the Franka Hand grips with up to 70 N)
CONTACT_SOLREF = (0.004, 1.0)  # s, damping ratio: stiff cube contacts (MuJoCo's default 0.02 s let a 35 N grip
#   sink the fingers 1-2 cm into the 50 g cube, and some grasps squeezed through it)
CONTACT_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)


class PickCubeTask:
    """Cube pose sampled in the declared xy box and yaw range, resting on the table (z = half size)."""

    def __init__(self, spec: TaskSpec, finger_bodies: tuple[str, str]):
        if spec.object is None:
            raise ConfigError(f"task {spec.name!r} declares no object")
        self.spec = spec
        self.cube = spec.object
        self.finger_bodies = finger_bodies  # (left, right): fingers move along +y / -y of the hand
        self.initial_height = self.cube.half_size
        self._qpos = self._qvel = self._geom = -1
        self._pads: tuple[int, ...] = (-1, -1)
        self._geom_body = np.zeros(0, dtype=int)

    def add_to_scene(self, spec: mujoco.MjSpec) -> None:
        """Cube body with a free joint, and one pad per finger."""
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0
        c = self.cube
        body = spec.worldbody.add_body(name=c.name, pos=[0.5, 0.0, c.half_size])
        body.add_freejoint(name=f"{c.name}_joint")
        body.add_geom(name=c.name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[c.half_size] * 3, mass=c.mass,
                      friction=[c.friction, 0.01, 0.0002], condim=4, rgba=[0.85, 0.2, 0.2, 1],
                      solref=list(CONTACT_SOLREF), solimp=list(CONTACT_SOLIMP))
        for joint_name in self.spec.action.gripper_joints:
            spec.joint(joint_name).armature = FINGER_ARMATURE  # without it the light fingers slam through
            act = spec.actuator(joint_name)
            act.forcelimited, act.forcerange = 1, [-FINGER_FORCE, FINGER_FORCE]
        for side, body_name in zip((1.0, -1.0), self.finger_bodies):
            finger = spec.body(body_name)
            if finger is None:
                raise ConfigError(f"finger body {body_name!r} is not in the MuJoCo model")
            x, y, z = PAD_CENTER
            finger.add_geom(name=f"{body_name}_pad", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(PAD_HALF_SIZE),
                            pos=[x, side * y, z], friction=list(PAD_FRICTION), condim=4,
                            rgba=[0.2, 0.2, 0.2, 1])

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up the cube joint, cube geom and the finger bodies."""
        joint = model.joint(f"{self.cube.name}_joint")
        self._qpos, self._qvel = int(joint.qposadr[0]), int(joint.dofadr[0])
        self._geom = model.geom(self.cube.name).id
        self._pads = tuple(model.body(b).id for b in self.finger_bodies)
        self._geom_body = model.geom_bodyid.copy()

    def reset(self, rng: np.random.Generator, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Place the cube at rest at a random xy (m) and yaw (rad) on the table."""
        r = self.spec.reset
        xy = rng.uniform(r.object_xy_low, r.object_xy_high)
        yaw = rng.uniform(-r.object_yaw, r.object_yaw)
        data.qpos[self._qpos:self._qpos + 3] = [xy[0], xy[1], self.cube.half_size]
        data.qpos[self._qpos + 3:self._qpos + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        data.qvel[self._qvel:self._qvel + 6] = 0.0
        self.initial_height = self.cube.half_size

    def pose(self, data: mujoco.MjData) -> np.ndarray:
        """Cube position (3,) m and quaternion wxyz (4,), base frame (= world: the base is at the origin)."""
        return data.qpos[self._qpos:self._qpos + 7].copy()

    def observe(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """``object_pose``: (7,)."""
        return {"object_pose": self.pose(data)}

    def grasped(self, data: mujoco.MjData) -> bool:
        """Both fingers (any of their geoms) touch the cube."""
        touching = set()
        for i in range(data.ncon):
            con = data.contact[i]
            if self._geom not in (con.geom1, con.geom2):
                continue
            other = con.geom2 if con.geom1 == self._geom else con.geom1
            touching.add(int(self._geom_body[other]))
        return all(b in touching for b in self._pads)

    def quantities(self, data: mujoco.MjData, ee_pos: np.ndarray) -> dict[str, float]:
        """EE-cube distance (m), lift above the start height (m), success."""
        pos = data.qpos[self._qpos:self._qpos + 3]
        return {"ee_object_dist": float(np.linalg.norm(ee_pos - pos)),
                "lift": float(pos[2] - self.initial_height),
                "success": float(self.success(data, ee_pos))}

    def success(self, data: mujoco.MjData, ee_pos: np.ndarray) -> bool:
        """Cube at least ``threshold`` m above its initial height while both fingers touch it."""
        lift = data.qpos[self._qpos + 2] - self.initial_height
        return bool(lift >= self.spec.success.threshold and self.grasped(data))
