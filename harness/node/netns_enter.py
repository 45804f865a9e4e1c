# Entering a network namespace from Python, shared by the helpers (icmp-prober.py, ns-sysctl.py):
# Python 3.11 has no os.setns, so ctypes calls libc's. Standard library only.
import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def enter(path):
    """Moves this thread into the namespace at `path` (a /run/netns file or /proc/PID/ns/net)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        setns(fd)
    finally:
        os.close(fd)


def here():
    """A descriptor of the namespace this thread is in, to come back to with setns()."""
    return os.open('/proc/self/ns/net', os.O_RDONLY)
