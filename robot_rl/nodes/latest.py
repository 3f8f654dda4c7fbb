"""The newest message of a high-rate topic, read on demand instead of with one callback per message.

/joint_states comes at the control rate (1 kHz). A node that needs it once per policy period (10 Hz) and
subscribes normally pays an executor wake-up and a deserialization per message: measured here about a
quarter to a third of a core per subscriber with rclpy's SingleThreadedExecutor, which on a 2-core machine
slowed a 15 ms policy inference in the same process group to ~100 ms. :class:`LatestMessage` keeps a
KEEP_LAST(1) subscription on a helper node that no executor spins; :meth:`LatestMessage.take` drains it
(the DDS reader holds only the newest sample), so a message costs nothing until it is read.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile


class LatestMessage:
    """Newest ``msg_type`` message on ``topic``, taken when asked for.

    Args:
        context: the rclpy Context of the owning node.
        node_name: name of the helper node that owns the subscription (unique in the graph).
        msg_type: ROS message class.
        topic: absolute topic name.
    """

    def __init__(self, context, node_name: str, msg_type, topic: str):
        # use_global_arguments=False: a process-wide ``--ros-args -r __node:=NAME`` remap would otherwise rename
        # this helper to its owner's name (two nodes called NAME in the graph)
        self._node = rclpy.create_node(node_name, context=context, start_parameter_services=False,
                                       use_global_arguments=False)
        self._latest = None
        self._node.create_subscription(msg_type, topic, self._keep, QoSProfile(depth=1))
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self._node)

    def _keep(self, msg) -> None:
        self._latest = msg

    def take(self):
        """The newest message received so far (None before the first); never blocks. Not thread-safe: call it
        from one thread."""
        for _ in range(2):  # one sample at most is queued (depth 1); a second pass covers a wake-up guard
            self._executor.spin_once(timeout_sec=0.0)
        return self._latest

    def destroy(self) -> None:
        """Remove the helper node and its executor."""
        self._executor.shutdown(timeout_sec=1.0)
        self._node.destroy_node()
