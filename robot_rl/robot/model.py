"""Pinocchio model of a robot built from its URDF + YAML: limits, FK, Jacobians, gravity, self-collision.

Only the joints listed in the robot YAML are degrees of freedom; every other
URDF joint (e.g. gripper fingers) is locked at a reference position. All
arrays are ordered like ``RobotConfig.joints`` and use SI units (rad, m, s, Nm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.robot.config import RobotConfig, example_robot_data_share, load_robot_config
from robot_rl.robot.friction import friction_torque


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, (n,) arrays in ``RobotConfig.joints`` order."""

    lower: np.ndarray  # rad, URDF hard limit
    upper: np.ndarray  # rad, URDF hard limit
    soft_lower: np.ndarray  # rad, hard limit shrunk by the YAML margin
    soft_upper: np.ndarray  # rad
    velocity: np.ndarray  # rad/s, URDF limit times velocity_scale
    acceleration: np.ndarray  # rad/s^2, from the YAML
    jerk: np.ndarray  # rad/s^3, from the YAML
    effort: np.ndarray  # Nm, URDF limit


class RobotModel:
    """Kinematics and dynamics of the controlled joints, from pinocchio.

    Not thread-safe: each thread that evaluates the model needs its own instance
    (pinocchio's Data is a scratch buffer).
    """

    def __init__(self, config: RobotConfig):
        import pinocchio as pin

        self.config = config
        self._pin = pin
        full = _load_urdf_model(config.urdf_path)
        self._check_joints(full)
        q_ref = self._locked_reference(full)
        geom = _load_collision_geometry(config.urdf_path, full)
        lock_ids = [full.getJointId(n) for n in full.names[1:] if n not in config.joints]
        if lock_ids:
            self.model, self.collision_model = pin.buildReducedModel(full, geom, lock_ids, q_ref)
        else:
            self.model, self.collision_model = full, geom
        if config.collision.floor is not None:
            _add_floor(self.collision_model, config.collision.floor)
        _check_floor_ignore(self.model, self.collision_model, config.collision.floor_ignore)
        self._check_order()
        self.model.armature = config.armature.copy()  # rotor inertia: RNEA/CRBA include it
        self.data = self.model.createData()
        self.limits = self._limits()
        # URDF joint damping (n,) Nm s/rad and Coulomb friction (n,) Nm, read once (pinocchio copies on access)
        self._friction = (np.array(self.model.damping, dtype=float), np.array(self.model.friction, dtype=float))
        self._frame_ids: dict[str, int] = {}
        self._collision_data = None

    # ----- construction helpers -------------------------------------------------
    def _check_joints(self, full) -> None:
        urdf_joints = list(full.names[1:])
        missing = [j for j in self.config.joints if j not in urdf_joints]
        if missing:
            raise ConfigError(
                f"{self.config.source}: joints {missing} are not in URDF {self.config.urdf_path} "
                f"(it has {urdf_joints})"
            )
        for name in self.config.joints:
            if full.joints[full.getJointId(name)].nq != 1:
                raise ConfigError(f"joint {name!r} is not a 1-DoF joint; only revolute/prismatic joints are supported")

    def _locked_reference(self, full) -> np.ndarray:
        q = self._pin.neutral(full)
        gripper = self.config.gripper
        if gripper is not None:
            for name in gripper.joints:
                if full.existJointName(name):
                    q[full.joints[full.getJointId(name)].idx_q] = gripper.open_position
        return q

    def _check_order(self) -> None:
        names = tuple(self.model.names[1:])
        if names != self.config.joints:
            raise ConfigError(
                f"{self.config.source}: joints must be listed in URDF tree order {names}, got {self.config.joints}"
            )

    def _limits(self) -> JointLimits:
        m, c = self.model, self.config
        lower, upper = np.array(m.lowerPositionLimit), np.array(m.upperPositionLimit)
        soft_lower, soft_upper = lower + c.position_margin, upper - c.position_margin
        bad = [c.joints[i] for i in np.flatnonzero(soft_lower >= soft_upper)]
        if bad:
            raise ConfigError(f"{c.source}: position_margin leaves no range for joints {bad}")
        outside = [c.joints[i] for i in np.flatnonzero((c.default_pose < soft_lower) | (c.default_pose > soft_upper))]
        if outside:
            raise ConfigError(f"{c.source}: default_pose is outside the soft limits for joints {outside}")
        return JointLimits(
            lower=lower, upper=upper, soft_lower=soft_lower, soft_upper=soft_upper,
            velocity=np.array(m.velocityLimit) * c.velocity_scale,
            acceleration=c.acceleration_limits.copy(), jerk=c.jerk_limits.copy(),
            effort=np.array(m.effortLimit),
        )

    # ----- queries ------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        """Controlled joint names, in order."""
        return self.config.joints

    @property
    def dof(self) -> int:
        """Number of controlled joints."""
        return self.model.nq

    def frame_id(self, frame: str) -> int:
        """Pinocchio frame index of a URDF link/frame name; ConfigError if unknown."""
        if frame not in self._frame_ids:
            if not self.model.existFrame(frame):
                raise ConfigError(f"frame {frame!r} is not in URDF {self.config.urdf_path}")
            body = self.model.existFrame(frame, self._pin.FrameType.BODY)  # a link named like its fixed joint
            self._frame_ids[frame] = self.model.getFrameId(frame, self._pin.FrameType.BODY) if body else \
                self.model.getFrameId(frame)
        return self._frame_ids[frame]

    def frame_pose(self, q: np.ndarray, frame: str | None = None) -> np.ndarray:
        """Homogeneous transform (4, 4) of ``frame`` (default: end effector) in the base frame at q (n,) rad."""
        fid = self.frame_id(frame or self.config.ee_frame)
        self._pin.forwardKinematics(self.model, self.data, np.asarray(q, dtype=float))
        return self._pin.updateFramePlacement(self.model, self.data, fid).homogeneous

    def fk(self, q: np.ndarray, frame: str | None = None) -> np.ndarray:
        """Position (3,) m of ``frame`` (default: end effector) at joint positions q (n,) rad."""
        return self.frame_pose(q, frame)[:3, 3].copy()

    def frame_positions(self, q: np.ndarray, frames: tuple[str, ...]) -> np.ndarray:
        """Positions (k, 3) m of several frames at q (n,) rad, from one FK pass."""
        pin = self._pin
        pin.forwardKinematics(self.model, self.data, np.asarray(q, dtype=float))
        out = np.empty((len(frames), 3))
        for i, frame in enumerate(frames):
            out[i] = pin.updateFramePlacement(self.model, self.data, self.frame_id(frame)).translation
        return out

    def jacobian(self, q: np.ndarray, frame: str | None = None) -> np.ndarray:
        """Frame Jacobian (6, n), LOCAL_WORLD_ALIGNED: rows are [linear m/s; angular rad/s] per rad/s."""
        pin = self._pin
        fid = self.frame_id(frame or self.config.ee_frame)
        q = np.asarray(q, dtype=float)
        return pin.computeFrameJacobian(self.model, self.data, q, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)

    def gravity(self, q: np.ndarray) -> np.ndarray:
        """Gravity torques (n,) Nm at q (n,) rad."""
        return self._pin.computeGeneralizedGravity(self.model, self.data, np.asarray(q, dtype=float)).copy()

    def inverse_dynamics(self, q: np.ndarray, v: np.ndarray, a: np.ndarray) -> np.ndarray:
        """RNEA torques (n,) Nm for q rad, v rad/s, a rad/s^2 (each (n,))."""
        return self._pin.rnea(self.model, self.data, np.asarray(q, float), np.asarray(v, float),
                              np.asarray(a, float)).copy()

    def friction_torque(self, v: np.ndarray) -> np.ndarray:
        """URDF joint damping + smoothed Coulomb friction (n,) Nm at velocity v (n,) rad/s (see robot.friction)."""
        return friction_torque(*self.friction_parameters(), v)

    def friction_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """(joint damping (n,) Nm s/rad, Coulomb friction (n,) Nm) from the URDF: what :meth:`friction_torque`
        and the control core's impedance law feed forward."""
        return self._friction

    def mass_matrix(self, q: np.ndarray) -> np.ndarray:
        """Joint-space inertia matrix (n, n) kg m^2 at q (n,) rad (CRBA, armature included)."""
        upper = self._pin.crba(self.model, self.data, np.asarray(q, float))
        return np.triu(upper) + np.triu(upper, 1).T

    # ----- collision -------------------------------------------------------------------
    def collision_pairs(self) -> list[tuple[str, str]]:
        """Geometry-name pairs checked: all links but adjacent ones and YAML-ignored pairs, and every link
        but the ``floor_ignore`` ones against the floor (geometry name FLOOR_GEOMETRY) if the YAML has one."""
        self._ensure_collision_pairs()
        gm = self.collision_model
        return [(gm.geometryObjects[p.first].name, gm.geometryObjects[p.second].name)
                for p in gm.collisionPairs]

    def min_collision_distance(self, q: np.ndarray) -> tuple[float, tuple[str, str] | None]:
        """Smallest distance (m) between checked pairs at q (n,) rad (links, and links to the floor), and that
        pair's geometry names."""
        pin = self._pin
        self._ensure_collision_pairs()
        if not len(self.collision_model.collisionPairs):
            return float("inf"), None
        q = np.asarray(q, dtype=float)
        i = pin.computeDistances(self.model, self.data, self.collision_model, self._collision_data, q)  # argmin
        pair = self.collision_model.collisionPairs[i]
        names = (self.collision_model.geometryObjects[pair.first].name,
                 self.collision_model.geometryObjects[pair.second].name)
        return float(self._collision_data.distanceResults[i].min_distance), names

    def _ensure_collision_pairs(self) -> None:
        if self._collision_data is not None:
            return
        gm, m = self.collision_model, self.model
        ignored = {frozenset(p) for p in self.config.collision.ignore_pairs}
        ignored |= {frozenset((FLOOR_GEOMETRY, link)) for link in self.config.collision.floor_ignore}
        objs = gm.geometryObjects
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                li, lj = _link_of(m, objs[i]), _link_of(m, objs[j])
                floor_pair = FLOOR_GEOMETRY in (li, lj)  # the floor touches no link through a joint
                if li == lj or frozenset((li, lj)) in ignored or (not floor_pair and _adjacent(m, objs[i], objs[j])):
                    continue
                gm.addCollisionPair(self._pin.CollisionPair(i, j))
        self._collision_data = self._pin.GeometryData(gm)


FLOOR_GEOMETRY = "floor"
"""Name of the collision geometry (and its link) for the YAML's ``collision.floor``: the half-space below it."""


def _add_floor(geom_model, height: float) -> None:
    """Add the solid below z = ``height`` (m, base frame) to ``geom_model``, fixed to the base (joint 0)."""
    import coal
    import pinocchio as pin

    solid = coal.Halfspace(np.array([0.0, 0.0, 1.0]), float(height))  # {x: z <= height}
    geom_model.addGeometryObject(pin.GeometryObject(FLOOR_GEOMETRY, 0, 0, pin.SE3.Identity(), solid))


def _check_floor_ignore(model, geom_model, links: tuple[str, ...]) -> None:
    """ConfigError naming the ``links`` (collision.floor_ignore) that carry no collision geometry."""
    unknown = set(links) - {_link_of(model, obj) for obj in geom_model.geometryObjects}
    if unknown:
        raise ConfigError(f"collision.floor_ignore: {sorted(unknown)} are not links with collision geometry")


def _link_of(model, geom) -> str:
    return FLOOR_GEOMETRY if geom.name == FLOOR_GEOMETRY else model.frames[geom.parentFrame].name


def _adjacent(model, a, b) -> bool:
    """True if two geometries hang off the same joint or off a parent/child joint pair."""
    ja, jb = a.parentJoint, b.parentJoint
    return ja == jb or model.parents[ja] == jb or model.parents[jb] == ja


def _load_urdf_model(urdf_path: Path):
    import pinocchio as pin

    try:
        return pin.buildModelFromUrdf(str(urdf_path))
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"URDF {urdf_path} could not be parsed by pinocchio: {exc}") from exc


def urdf_joint_names(urdf_path: Path) -> tuple[str, ...]:
    """The URDF's 1-DoF (revolute/prismatic) joints in kinematic-tree order: a simulator articulation's joints."""
    full = _load_urdf_model(Path(urdf_path))
    return tuple(n for n in full.names[1:] if full.joints[full.getJointId(n)].nq == 1)


def _package_dirs() -> list[str]:
    try:
        return [str(example_robot_data_share())]
    except ConfigError:
        return []


def _load_collision_geometry(urdf_path: Path, model):
    import pinocchio as pin

    try:
        geom = pin.buildGeomFromUrdf(model, str(urdf_path), pin.GeometryType.COLLISION, None, _package_dirs())
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"URDF {urdf_path}: collision meshes could not be loaded: {exc}") from exc
    _use_convex_hulls(geom)
    return geom


def _use_convex_hulls(geom) -> None:
    """Replace mesh geometries by their convex hulls (qhull), as MuJoCo collides meshes.

    GJK on hulls is ~50x faster than mesh-mesh distance, and a hull contains its
    mesh, so hull distances never exceed the true distances (conservative). Not
    ``buildConvexRepresentation``: it keeps the mesh's own non-convex triangles, on
    which GJK returned distances 20 cm too large (UR5 forearm/wrist_3, docs/robots.md).
    """
    import coal

    for obj in geom.geometryObjects:
        mesh = obj.geometry
        if isinstance(mesh, coal.BVHModelBase):
            mesh.buildConvexHull(True, "Qt")  # qhull: a true hull (the mesh's own triangles are not convex)
            obj.geometry = mesh.convex


def load_robot_model(robot: str | Path) -> RobotModel:
    """Load a robot YAML (shipped name or path) and build its pinocchio model."""
    return RobotModel(load_robot_config(robot))
