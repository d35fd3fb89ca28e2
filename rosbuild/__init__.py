"""The build behind `build.py`: Debian packages -> frozen /init, initramfs, system images, hybrid ISO.

Pipeline (rosbuild.cli.build): debs (resolve, lock, fetch, extract) -> freeze (PyInstaller) ->
images (recipes -> layers -> one archive, via oci) -> initramfs (elf closure, modules, cpio) -> iso.
rosbuild.qemu.VM runs the result. Everything is cached under $ROS_BUILD_CACHE with input-hash stamps.
"""
