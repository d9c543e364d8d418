"""Offline jobs around the ROS runtime: bag reading and writing, replay, the demo, launching nodes as
child processes, pictures of recorded output. Nothing here runs on the robot; nothing in ``ros/`` imports it."""
