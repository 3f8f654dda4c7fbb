"""Learning in simulation (torch): diffusion policy, training, export, evaluation, demo.

The only package under ``robot_rl`` that imports torch; nothing that runs on the
robot imports it (the robot runs the exported ONNX through onnxruntime).
"""
