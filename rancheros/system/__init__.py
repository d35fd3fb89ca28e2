"""The OS plumbing every feature package stands on: running commands, the mount table, block devices.

Standard library and rancheros.errors only, so PID 1 can use it before anything else exists.
"""
