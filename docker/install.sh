#!/bin/sh
# Installs the project into an image; docker/Dockerfile runs it as root in the sources' folder.
#
# Usage: sh docker/install.sh REQUIREMENTS [DIR...]
#   REQUIREMENTS  the image's own requirement file (pins of requirements/runtime.txt)
#   DIR...        data directories the image's user writes (made, group 0, g=u)
#
# The requirements, then the project without dependencies; the Kubernetes client's asyncio variant
# (kubernetes/aio, ~68 MB), which nothing imports, goes where the client is installed; the sources
# go; the user 1001 (group 0) is created with its home.  Everything it writes, its home and DIRs,
# belongs to group 0 and is group-writable (g=u): OpenShift runs an arbitrary UID in group 0.
# PIP_CERT_FILE (the Dockerfile's build argument): a CA bundle for pip, when the builder mounts one.
set -eu
requirements=$1
shift
pip install --no-cache-dir ${PIP_CERT_FILE:+--cert "$PIP_CERT_FILE"} -r "$requirements"
pip install --no-cache-dir --no-deps .
aio=$(python -c 'import importlib.util as u; s = u.find_spec("kubernetes"); print(s.submodule_search_locations[0] + "/aio" if s else "")')
[ -z "$aio" ] || rm -rf "$aio"
cd /
rm -rf /opt/app/src
useradd --no-log-init --uid 1001 --gid 0 --home-dir /home/app --create-home --shell /usr/sbin/nologin app
[ $# -eq 0 ] || mkdir -p "$@"
chgrp -R 0 /home/app "$@"
chmod -R g=u /home/app "$@"
