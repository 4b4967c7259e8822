"""The ``hello`` action's ``sysinfo`` reply (``meta.askAbout == "sysinfo"``), as the originals gave it."""
from __future__ import annotations

import os
import platform
import socket


def sysinfo() -> dict:
    """The host's system, platform, CPU count, load, host name and address; memory and CPU use
    too when psutil is installed (the originals reported them through it)."""
    uname = platform.uname()
    info = {"system": uname.system, "machine": uname.machine, "platform": platform.platform(),
            "uname": list(uname), "version": uname.version, "cpucount": os.cpu_count(),
            "loadavg": list(os.getloadavg()), "hostname": socket.gethostname()}
    try:
        import psutil  # optional
        info["memory"] = list(psutil.virtual_memory())
        info["cpu_percent"] = psutil.cpu_percent()
    except ImportError:
        pass
    try:
        info["inet"] = socket.gethostbyname(socket.gethostname())
    except OSError:
        info["inet"] = "127.0.0.1"
    return info
