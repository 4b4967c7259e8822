"""Driving pman's app in-process: a run message, the message API's envelope, and the config as the
CLI builds it."""
import json

from pman import cli

RUN = {"jid": "chris-jid-1", "cmd": "cp -r /share/incoming /share/outgoing", "auid": "chris", "threaded": True,
       "number_of_workers": "1", "cpu_limit": "1000m", "memory_limit": "200Mi", "gpu_limit": 0,
       "container": {"target": {"image": "busybox", "cmdParse": False}}}


def msg(client, action, meta, wrap=True, path="/api/v1/cmd", headers=None):
    body = {"action": action, "meta": meta}
    data = json.dumps({"payload": body} if wrap else body)
    return client.post(path, data=data, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                 "Mode": "control", **(headers or {})})


def build(argv, env=None):
    return cli.config_from_args(cli.build_parser().parse_args(argv), env or {})
