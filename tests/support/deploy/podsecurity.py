"""The Pod Security Standards (``baseline`` and ``restricted``, version ``latest`` as of Kubernetes
1.36), written down from their published definition
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) as a checker of a pod spec.

:func:`violations` answers what the PodSecurity admission plugin would refuse, in the plugin's
own words where it has them (``runAsNonRoot != true (pod or container "processor" must set
securityContext.runAsNonRoot=true)``), so that the test can hold it against the recorded refusal.
Only Linux pods are considered (``spec.os.name`` unset or ``linux``), as pman's are.
"""
from __future__ import annotations

from typing import Any, Iterator

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
VOLUME_SOURCES = RESTRICTED_VOLUMES | {
    "hostPath", "nfs", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc",
    "azureFile", "azureDisk", "vsphereVolume", "quobyte", "portworxVolume", "scaleIO", "storageos",
    "photonPersistentDisk", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "image"}


def containers(pod: dict) -> Iterator[tuple[str, dict]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(key) or []:
            yield c.get("name", "?"), c


def _ctx(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def baseline(pod: dict, annotations: dict | None = None) -> list[str]:
    """The ``baseline`` checks: no known privilege escalation."""
    out: list[str] = []
    pod_ctx = _ctx(pod)
    every = [(None, pod_ctx)] + [(name, _ctx(c)) for name, c in containers(pod)]
    if any((ctx.get("windowsOptions") or {}).get("hostProcess") for _n, ctx in every):
        out.append("hostProcess")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            out.append(f"host namespaces ({field}=true)")
    for name, c in containers(pod):
        ctx = _ctx(c)
        if ctx.get("privileged"):
            out.append(f'privileged (container "{name}" must not set securityContext.privileged=true)')
        added = set((ctx.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            out.append(f'non-default capabilities (container "{name}" must not include {sorted(added)})')
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.append(f'hostPort (container "{name}")')
        if ctx.get("procMount") not in (None, "Default"):
            out.append(f'procMount (container "{name}" must not set securityContext.procMount)')
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            out.append(f'hostPath volumes (volume "{volume.get("name")}")')
    for name, ctx in every:
        where = "pod" if name is None else f'container "{name}"'
        apparmor = (ctx.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"appArmorProfile ({where} must not set type {apparmor})")
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            out.append(f"seLinuxOptions ({where})")
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"seccompProfile ({where} must not set securityContext.seccompProfile.type to Unconfined)")
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value == "runtime/default" or value.startswith("localhost/")):
            out.append(f"forbidden AppArmor profile ({key}={value})")
    unsafe = [s.get("name") for s in pod_ctx.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if unsafe:
        out.append(f"forbidden sysctls ({', '.join(map(str, unsafe))})")
    return out


def restricted(pod: dict, annotations: dict | None = None) -> list[str]:
    """The ``restricted`` checks: ``baseline`` plus the hardening best practices."""
    out = baseline(pod, annotations)
    pod_ctx = _ctx(pod)
    named = list(containers(pod))
    for volume in pod.get("volumes") or []:
        kinds = set(volume) & VOLUME_SOURCES
        if not kinds <= RESTRICTED_VOLUMES:
            out.append(f'restricted volume types (volume "{volume.get("name")}" uses {sorted(kinds)})')
    escalating = [n for n, c in named if _ctx(c).get("allowPrivilegeEscalation") is not False]
    if escalating:
        out.append(f"allowPrivilegeEscalation != false ({_who(escalating)} must set "
                   "securityContext.allowPrivilegeEscalation=false)")
    undropped = [n for n, c in named if "ALL" not in ((_ctx(c).get("capabilities") or {}).get("drop") or [])]
    if undropped:
        out.append(f'unrestricted capabilities ({_who(undropped)} must set securityContext.capabilities.drop=["ALL"])')
    extra = [n for n, c in named if set((_ctx(c).get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}]
    if extra:
        out.append(f"unrestricted capabilities ({_who(extra)} must not include capabilities beyond NET_BIND_SERVICE)")
    out.extend(_non_root(pod_ctx, named))
    root = [n for n, c in named if _ctx(c).get("runAsUser") == 0]
    if pod_ctx.get("runAsUser") == 0 or root:
        out.append(f"runAsUser=0 ({'pod' if pod_ctx.get('runAsUser') == 0 else _who(root)} must not set runAsUser=0)")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    unset = [n for n, c in named if (_ctx(c).get("seccompProfile") or {}).get("type") is None]
    if pod_seccomp not in ("RuntimeDefault", "Localhost") and unset:
        out.append(f"seccompProfile (pod or {_who(unset)} must set securityContext.seccompProfile.type to "
                   '"RuntimeDefault" or "Localhost")')
    return out


def _non_root(pod_ctx: dict, named: list[tuple[str, dict]]) -> list[str]:
    explicit_false = [n for n, c in named if _ctx(c).get("runAsNonRoot") is False]
    if pod_ctx.get("runAsNonRoot") is False or explicit_false:
        who = "pod" if pod_ctx.get("runAsNonRoot") is False else _who(explicit_false)
        return [f"runAsNonRoot != true ({who} must not set securityContext.runAsNonRoot=false)"]
    if pod_ctx.get("runAsNonRoot") is True:
        return []
    missing = [n for n, c in named if _ctx(c).get("runAsNonRoot") is not True]
    if missing:
        return [f"runAsNonRoot != true (pod or {_who(missing)} must set securityContext.runAsNonRoot=true)"]
    return []


def _who(names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"container {quoted}" if len(names) == 1 else f"containers {quoted}"


def violations(pod_template: dict, level: str) -> list[str]:
    """What Pod Security ``level`` refuses in a pod (or pod template: ``metadata`` + ``spec``)."""
    assert level in LEVELS, level
    spec: Any = pod_template.get("spec", pod_template)
    annotations = (pod_template.get("metadata") or {}).get("annotations")
    if level == "privileged":
        return []
    return baseline(spec, annotations) if level == "baseline" else restricted(spec, annotations)


def enforced_level(namespace: dict) -> str:
    """The level a Namespace object enforces (unlabelled: the cluster default, ``privileged``)."""
    return ((namespace.get("metadata") or {}).get("labels") or {}).get("pod-security.kubernetes.io/enforce",
                                                                        "privileged")
