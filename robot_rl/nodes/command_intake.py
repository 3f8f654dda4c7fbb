"""Commands taken by the control loop thread itself, from a subscription no executor spins.

With a normal subscription, rclpy's executor thread wakes for each command and runs ~1-3 ms of Python
(wait-set bookkeeping, the callback) holding the GIL; the 1 kHz loop thread in the same process then waits for
the GIL at its deadline. Measured (control node in-process, demo source at 20 Hz, idle machine): period-error
p99 0.35-0.47 ms with the executor spinning the command subscription, 0.06 ms with no executor activity.
:class:`PolledCommands` keeps the DDS reader on a helper node that no executor spins; the loop thread drains it
once per tick (``take_message``: a few microseconds when empty), so all per-command Python work runs in the
loop thread, between its own ticks, and nothing hands the GIL back and forth at 1 kHz.
"""

from __future__ import annotations

import rclpy
from rclpy.qos import QoSProfile


class PolledCommands:
    """Messages of ``msg_type`` on ``topic``, taken on demand by one thread.

    Args:
        context: the rclpy Context of the owning node.
        node_name: name of the helper node that owns the subscription (unique in the graph).
        msg_type: ROS message class.
        topic: fully resolved topic name (remappings already applied by the owner: the helper node ignores the
            process's global arguments, so a ``__node`` remap does not rename it).
        depth: reader queue depth (KEEP_LAST); older unread messages are dropped by DDS.
    """

    def __init__(self, context, node_name: str, msg_type, topic: str, depth: int = 10):
        self._node = rclpy.create_node(node_name, context=context, start_parameter_services=False,
                                       use_global_arguments=False)
        self._sub = self._node.create_subscription(msg_type, topic, lambda _msg: None, QoSProfile(depth=depth))

    def take_all(self) -> list:
        """Every message received since the last call, oldest first (empty list: none); never blocks."""
        taken, sub = [], self._sub
        with sub.handle:
            while (got := sub.handle.take_message(sub.msg_type, sub.raw)) is not None:
                taken.append(got[0])
        return taken

    def destroy(self) -> None:
        """Remove the helper node (after the loop thread has stopped)."""
        self._node.destroy_node()
