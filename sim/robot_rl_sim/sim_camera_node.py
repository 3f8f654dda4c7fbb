"""Simulated RealSense: the project's camera node reading a software device fed with MuJoCo renders of the
simulated pick-cube scene. A **stand-in** for the physical camera (no RealSense on this machine); everything
from the device's sensors on (librealsense syncer and align, RealSenseCamera, the camera node's topics) is the
real camera path.

Subscribes:  /joint_states (read when a frame is rendered), /robot_rl/sim/object_pose (the simulator's cube
             pose: the gate remaps the control node's /robot_rl/object_pose here, so the policy sees only the
             perception pipeline's)
Publishes:   what the camera node publishes (/robot_rl/camera/color|depth/image_raw, camera_info, /diagnostics)

A render thread draws the arm (by joint name) and the cube, with the markers of :data:`RENDERED_OBJECT`, from
a fixed camera (:data:`robot_rl_sim.marker_scene.CAMERA_POS`, looking at ``LOOK_AT``, ``FOVY_DEG``), at most once per
``RENDER_PERIOD_S``, and pushes each pair twice (the syncer releases a set when the next frames arrive).
CPU rendering (EGL) takes 0.3-1.4 s per frame on the loaded 2-core machine: the frame rate is that.
Rendering waits until the policy node reports on /diagnostics (:data:`WAIT_FOR_STATUS`).
Images are :data:`WIDTH` x :data:`HEIGHT` at :data:`FPS` (the camera node's width/height/fps must match).
"""

from __future__ import annotations

import os
import threading
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from robot_rl import topics  # noqa: E402
from robot_rl.nodes.camera_node import CameraNode  # noqa: E402
from robot_rl.nodes.latest import LatestMessage  # noqa: E402
from robot_rl.nodes.main import run_node  # noqa: E402

TRUTH_TOPIC = "/robot_rl/sim/object_pose"
WIDTH, HEIGHT, FPS = 640, 480, 30
RENDER_PERIOD_S = 0.1
RENDERED_OBJECT = "cube_sides"
"""The rendered cube's markers (config/objects): one on the top and one on each side face; object_pose_node
uses those its own object YAML names (``cube``: the top one only)."""
WAIT_FOR_STATUS = "policy_node"
"""Rendering starts when this node's status appears on /diagnostics: the renderer takes a core, and the policy
node's start-up latency check (its inference within the budget) must not measure next to it."""


class SimCameraNode(CameraNode):
    """The camera node on a :class:`robot_rl_sim.rendered_device.RenderedDevice` fed by a render thread."""

    def __init__(self) -> None:
        from robot_rl_sim.marker_scene import FOVY_DEG, render_intrinsics
        from robot_rl_sim.rendered_device import RenderedDevice

        self.source = RenderedDevice(render_intrinsics(WIDTH, HEIGHT, FOVY_DEG), FPS)
        super().__init__(device=self.source.device)
        self.rendered, self.render_s = 0, 0.0
        self._truth = self.create_subscription(PoseStamped, TRUTH_TOPIC, self._on_truth, 10)
        self._policy_running = threading.Event()  # renders start once the policy node runs (see the module doc)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, 10)
        self._object: np.ndarray | None = None
        self._joints = LatestMessage(self.context, f"{self.get_name()}_joint_states", JointState,
                                     topics.JOINT_STATES)
        self._q: dict[str, float] = {}
        self._render_stop = threading.Event()
        self._renderer = threading.Thread(target=self._render_loop, name="sim_camera_render", daemon=True)
        self._renderer.start()

    def _on_truth(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self._object = np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        if any(status.name == WAIT_FOR_STATUS for status in msg.status):
            self._policy_running.set()

    def _render_loop(self) -> None:
        from robot_rl_sim.marker_scene import CAMERA_POS, FOVY_DEG, LOOK_AT, MarkerScene

        # built here: its GL context belongs to this thread
        scene = MarkerScene(WIDTH, HEIGHT, CAMERA_POS, LOOK_AT, FOVY_DEG, object_markers=RENDERED_OBJECT)
        try:
            self._render(scene)
        finally:
            scene.close()

    def _render(self, scene) -> None:
        while not self._render_stop.is_set():
            started = time.monotonic()
            state = self._joints.take()
            if state is not None:
                self._q = dict(zip(state.name, state.position))
            if self._object is not None and self._q and self._policy_running.is_set():
                color, depth = scene.render_state(self._q, self._object)
                self.source.push(color, depth)
                self.source.push(color, depth)  # the syncer hands this set out once the next arrives
                self.rendered += 1
                self.render_s += time.monotonic() - started
            self._render_stop.wait(max(RENDER_PERIOD_S - (time.monotonic() - started), 0.0))

    def shutdown(self) -> None:
        """Stop rendering, then the camera node's reader."""
        self._render_stop.set()
        if self._renderer.is_alive():
            self._renderer.join(timeout=5.0)
        super().shutdown()
        if self.rendered:
            self.get_logger().info(f"rendered {self.rendered} frames, {1000 * self.render_s / self.rendered:.0f} ms "
                                   "per frame (render + push)")


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl_sim.sim_camera_node``."""
    raise SystemExit(run_node(SimCameraNode, args))


if __name__ == "__main__":
    main()
