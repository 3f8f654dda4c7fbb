"""Topic and service names of the node graph, in one place. Every message type is a standard one."""

JOINT_STATES = "/joint_states"
"""sensor_msgs/JointState, published by the control node at the control rate."""

COMMAND = "/robot_rl/command"
"""trajectory_msgs/JointTrajectory from every command source (policy, teleop, demo) to the safety filter."""

SAFE_COMMAND = "/robot_rl/safe_command"
"""trajectory_msgs/JointTrajectory from the safety filter to the control node."""

ESTOP = "/robot_rl/estop"
"""std_msgs/Bool: True latches the safety filter's e-stop."""

GRIPPER = "/robot_rl/gripper"
"""std_msgs/Float64: the gripper position command the control node executes, robot units (m per finger; the
robot YAML's gripper range): from the policy node, or with teleop from the command mux (the policy's or, during a
takeover, the human's; republished while held)."""

GOAL = "/robot_rl/goal"
"""std_msgs/Float64MultiArray: task goal vector for goal-conditioned policies."""

DIAGNOSTICS = "/diagnostics"
"""diagnostic_msgs/DiagnosticArray from every node."""

OBJECT_POSE = "/robot_rl/object_pose"
"""geometry_msgs/PoseStamped: pose of the task object in the robot base frame (simulator or perception)."""

POLICY_LATENCY = "/robot_rl/policy/latency"
"""std_msgs/Float64: the policy node's inference latency per chunk, ms."""

POLICY_COMMAND = "/robot_rl/policy/command"
"""trajectory_msgs/JointTrajectory from the policy node to the command mux (when teleop is in the graph)."""

POLICY_GRIPPER = "/robot_rl/policy/gripper"
"""std_msgs/Float64 from the policy node to the command mux (when teleop is in the graph), robot units."""

TELEOP_COMMAND = "/robot_rl/teleop/command"
"""trajectory_msgs/JointTrajectory from the teleop node to the command mux, while the human intervenes."""

TELEOP_INTERVENING = "/robot_rl/teleop/intervening"
"""std_msgs/Bool, latched (transient local): True while the human at the teleop device takes over."""

TELEOP_GRIPPER = "/robot_rl/teleop/gripper"
"""std_msgs/Float64 from the teleop node, 0 (open) .. 1 (closed), on change, from devices with a gripper control;
the command mux forwards it to /robot_rl/gripper (in robot units) during a takeover."""

INTERVENTION = "/robot_rl/hil/intervention"
"""std_msgs/Bool, latched (transient local): True while the command mux forwards the human's commands
(or nothing, if they went stale) instead of the policy's."""

EPISODE_OUTCOME = "/robot_rl/hil/episode_outcome"
"""std_msgs/Bool: the human ends the episode: a success (True, reward 1) or a failure (False, reward 0)."""

EPISODE_CONTROL = "/robot_rl/hil/episode_control"
"""std_msgs/String from the operator's keys: "start" (the next episode) or "reset" (end this one, no outcome)."""

CAMERA_COLOR = "/robot_rl/camera/color/image_raw"
"""sensor_msgs/Image (rgb8) from the camera node."""

CAMERA_DEPTH = "/robot_rl/camera/depth/image_raw"
"""sensor_msgs/Image (32FC1, m; 0 where the camera has no depth) from the camera node; aligned to the color
image (same size, same CameraInfo) when align_depth_to_color is set."""

CAMERA_INFO = "/robot_rl/camera/color/camera_info"
"""sensor_msgs/CameraInfo of the color image, published with every color image."""
