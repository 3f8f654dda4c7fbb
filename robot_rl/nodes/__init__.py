"""Thin rclpy shells: each converts messages and parameters, calls the core, publishes."""
