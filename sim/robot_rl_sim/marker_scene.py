"""The panda-pick-cube scene rendered by MuJoCo with an ArUco marker on the cube and a camera at a known pose:
real pixels (color rgb8 and depth, m) with the truth they show, for testing the perception pipeline.

The marker is a 1 mm "sticker" box on the cube's top face textured with cv2.aruco's marker image (8 cells:
the 6-cell marker and a white cell each side), as config/objects/cube.yaml declares. The camera looks from
``camera_pos`` at ``look_at`` (m, world = robot base frame); its OpenCV intrinsics follow from MuJoCo's fovy
(square pixels, principal point at the image centre in OpenCV's pixel-centre convention).
"""

from __future__ import annotations

import cv2
import mujoco
import numpy as np

from robot_rl.perception.geometry import CameraIntrinsics, transform
from robot_rl.robot.config import load_robot_config
from robot_rl_sim.scene import build_spec
from robot_rl_sim.tasks import get_task
from robot_rl_sim.tasks.env import task_logic

TEXTURE_PX = 256
CAMERA_POS, LOOK_AT, FOVY_DEG = (0.85, 0.1, 0.35), (0.5, 0.0, 0.0), 42.0
"""The default camera: m in the robot base frame, D435-like vertical field of view (deg)."""
STICKER_HALF_THICKNESS = 0.0005  # m


def marker_texture(dictionary: str, marker_id: int, pixels: int = TEXTURE_PX) -> np.ndarray:
    """(pixels, pixels, 3) uint8 RGB: the marker (6 of 8 cells) centred on white."""
    aruco = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    inner = pixels * 6 // 8
    image = np.full((pixels, pixels), 255, np.uint8)
    pad = (pixels - inner) // 2
    image[pad:pad + inner, pad:pad + inner] = cv2.aruco.generateImageMarker(aruco, marker_id, inner)
    return np.repeat(image[..., None], 3, axis=2)


def render_intrinsics(width: int, height: int, fovy_deg: float) -> CameraIntrinsics:
    """OpenCV intrinsics (no distortion) of a MuJoCo camera with vertical field of view ``fovy_deg`` rendering
    ``width`` x ``height`` px: square pixels, principal point at the image centre (pixel-centre convention)."""
    f = height / 2 / np.tan(np.radians(fovy_deg) / 2)
    k = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    return CameraIntrinsics(k, np.zeros(5), width, height)


def _look_at(camera_pos, look_at) -> np.ndarray:
    """(3, 3) rotation of the OpenCV optical frame (x right, y down, z forward) in the world."""
    z = np.asarray(look_at, float) - np.asarray(camera_pos, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0.0, 0.0])
    return np.column_stack([x, np.cross(z, x), z])


def _add_sticker(body, spec, name: str, texture: np.ndarray, rotation: np.ndarray, centre, half: float) -> None:
    """A 1 mm visual-only box on ``body``, ``half`` m half-size, centred at ``centre`` (m) and turned by ``rotation``
    (3, 3) (its local +z face shows ``texture`` (TEXTURE_PX, TEXTURE_PX, 3) uint8)."""
    tex = spec.add_texture(name=name, type=mujoco.mjtTexture.mjTEXTURE_2D, width=TEXTURE_PX, height=TEXTURE_PX,
                           nchannel=3)
    tex.data = texture.tobytes()
    material = spec.add_material(name=name)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = name
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=float).reshape(-1))
    body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[half, half, STICKER_HALF_THICKNESS],
                  pos=list(centre), quat=list(quat), material=name, contype=0, conaffinity=0)


def base_from_camera(camera_pos, look_at) -> np.ndarray:
    """(4, 4) pose of the OpenCV optical frame of a camera at ``camera_pos`` looking at ``look_at`` (m, base)."""
    return transform(_look_at(camera_pos, look_at), camera_pos)


class MarkerScene:
    """Renders the pick-cube scene from one fixed camera; :meth:`render` places the cube and returns pixels."""

    def __init__(self, width: int, height: int, camera_pos, look_at, fovy_deg: float = 60.0,
                 dictionary: str = "DICT_4X4_50", marker_id: int = 7, hand_marker_id: int | None = None,
                 object_markers: str = ""):
        task = get_task("panda-pick-cube")
        config = load_robot_config(task.robot)
        spec = build_spec(config, task.physics_dt)
        logic = task_logic(task, config)
        logic.add_to_scene(spec)
        self.half = task.object.half_size
        if object_markers:
            self._add_object_markers(spec, task.object.name, object_markers)
        else:
            _add_sticker(spec.body(task.object.name), spec, "marker", marker_texture(dictionary, marker_id),
                         np.eye(3), [0, 0, self.half + STICKER_HALF_THICKNESS], self.half)
        if hand_marker_id is not None:
            self.tcp_from_plate = self._add_hand_plate(spec, config, dictionary, hand_marker_id, camera_pos)
        self.camera_rotation = _look_at(camera_pos, look_at)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, (self.camera_rotation @ np.diag([1.0, -1.0, -1.0])).reshape(-1))
        spec.worldbody.add_camera(name="cam", pos=list(camera_pos), quat=list(quat), fovy=fovy_deg)
        spec.compiler.discardvisual = False  # the sticker is a visual-only geom
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.model.vis.global_.offwidth, self.model.vis.global_.offheight = max(width, 640), max(height, 480)
        self.renderer = mujoco.Renderer(self.model, height, width)
        self.width, self.height, self.fovy = width, height, fovy_deg
        joint = self.model.joint(f"{task.object.name}_joint")
        self._qpos = int(joint.qposadr[0])
        self._joint_qpos = {self.model.joint(j).name: int(self.model.jnt_qposadr[j]) for j in range(self.model.njnt)
                            if self.model.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE)}
        self.base_from_camera = base_from_camera(camera_pos, look_at)

    @staticmethod
    def _add_object_markers(spec, body: str, name: str) -> None:
        """A sticker per marker of the object YAML ``name`` (config/objects), its face at the declared pose,
        8 cells wide (the marker's 6 and a white cell each side)."""
        from robot_rl.perception.config import load_object_markers

        markers = load_object_markers(name)
        for m in markers.markers:
            rotation, face = m.object_from_marker[:3, :3], m.object_from_marker[:3, 3]
            _add_sticker(spec.body(body), spec, f"marker_{m.id}", marker_texture(markers.dictionary, m.id), rotation,
                         face - rotation[:, 2] * STICKER_HALF_THICKNESS, m.size * 8 / 6 / 2)

    @staticmethod
    def _add_hand_plate(spec, config, dictionary: str, marker_id: int, camera_pos) -> np.ndarray:
        """A calibration plate (8 cm, marker 6 cm) on a bracket of the gripper's TCP body, facing the camera at
        the robot's default pose, 10 cm towards it and 6 cm above the TCP; returns tcp_from_plate (4, 4) (the
        plate's marker frame: x right, y up, z out of the face)."""
        from robot_rl.robot.model import RobotModel

        base_from_tcp = RobotModel(config).frame_pose(config.default_pose, config.ee_frame)
        toward = np.asarray(camera_pos, float) - base_from_tcp[:3, 3]
        toward[2] = 0.0
        centre = base_from_tcp[:3, 3] + 0.10 * toward / np.linalg.norm(toward) + np.array([0.0, 0.0, 0.06])
        normal = -_look_at(camera_pos, centre)[:, 2]
        x = np.cross([0.0, 0.0, 1.0], normal)
        x /= np.linalg.norm(x)
        plate = transform(np.column_stack([x, np.cross(normal, x), normal]), centre)
        tcp_from_plate = np.linalg.inv(base_from_tcp) @ plate
        offset = tcp_from_plate[:3, :3] @ np.array([0.0, 0.0, -STICKER_HALF_THICKNESS])  # face at the frame
        _add_sticker(spec.body(config.ee_frame), spec, "hand_marker", marker_texture(dictionary, marker_id),
                     tcp_from_plate[:3, :3], tcp_from_plate[:3, 3] + offset, 0.04)
        return tcp_from_plate

    def render_arm(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Put the arm at joint positions ``q`` (n,) rad (cube out of view); color (H, W, 3) uint8, depth m."""
        self.data.qpos[:len(q)] = q
        self.data.qpos[self._qpos:self._qpos + 3] = [3.0, 3.0, self.half]
        return self._render()

    def render_state(self, joints: dict[str, float], object_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Render the arm at ``joints`` (name -> position, rad or m; unknown names ignored) and the cube at
        ``object_pose`` (7,) [x, y, z m, qw, qx, qy, qz]: color (H, W, 3) uint8, depth (H, W) float32 m."""
        for name, value in joints.items():
            if name in self._joint_qpos:
                self.data.qpos[self._joint_qpos[name]] = value
        self.data.qpos[self._qpos:self._qpos + 7] = object_pose
        return self._render()

    def intrinsics(self) -> CameraIntrinsics:
        """OpenCV intrinsics of the rendered images (no distortion)."""
        return render_intrinsics(self.width, self.height, self.fovy)

    def render(self, position, yaw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Place the cube at ``position`` (m, its centre) turned by ``yaw`` (rad); return color (H, W, 3) uint8,
        depth (H, W) float32 m, and the true base_from_object (4, 4)."""
        q = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
        self.data.qpos[self._qpos:self._qpos + 3] = position
        self.data.qpos[self._qpos + 3:self._qpos + 7] = q
        color, depth = self._render()
        rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        return color, depth, transform(rotation, position)

    def _render(self) -> tuple[np.ndarray, np.ndarray]:
        mujoco.mj_forward(self.model, self.data)
        self.renderer.disable_depth_rendering()
        self.renderer.update_scene(self.data, camera="cam")
        color = self.renderer.render().copy()
        self.renderer.enable_depth_rendering()
        self.renderer.update_scene(self.data, camera="cam")
        depth = self.renderer.render().astype(np.float32)
        return color, depth

    def close(self) -> None:
        """Free the GL context."""
        self.renderer.close()
