"""One kube engine (either adapter, with or without the status cache) over fakes answering like the
recordings of a real kube-apiserver 1.36 (tests/fixtures/k8s-1.36): what the engine tests and the
delete-data tests drive."""
import json


from pman.engines import base
from pman.engines.kube import kubernetes as kube, openshift as osh, settings as kubesettings
from pman.engines.kube import status
from pman.engines.kube.cache import StatusCache
from tests.support.fake_kube import (JID, FakeBatchV1Api, FakeCoreV1Api, FakeDynamicClient, FakeResource,
                                     Response, listing, load, recorded)

S = base.JobStatus
NS = "chris"
TIMEOUT = 30
SETTINGS = kubesettings.KubeSettings(namespace=NS, log_tail_lines=100, log_tail_bytes=64,
                                     start_failure_timeout=TIMEOUT)
JOB = base.JobSpec(jid=JID, image="ghcr.io/fnndsc/pl-simpledsapp:2.1.0",
                   command=("simpledsapp", "--prefix", "le", "/share/incoming", "/share/outgoing"),
                   resources=base.Resources(cpu_limit="1000m", memory_limit="200Mi"), auid="chris")
LOGS = {"init": "got 3 files\n", "processor": "working\n" * 20, "publish": "put 2 files\n"}
NO_PODS = "pod-forbidden-podsecurity/pods.json"  # a recorded empty PodList


class Results:
    """The result objects in "Swift": ``read``/``write`` as the engine's reader and writer."""

    def __init__(self, objects=None, error=None):
        self.objects, self.error = dict(objects or {}), error
        self.reads, self.writes = [], []

    def read(self, jid):
        self.reads.append(jid)
        if self.error:
            raise self.error
        return self.objects.get(jid)

    def write(self, jid, doc):
        self.writes.append(jid)
        if self.error:
            raise self.error
        self.objects[jid] = doc


class Cluster:
    """One engine over fakes answering ``job``/``pods``/``events``/``log`` (values, exceptions or callables).

    ``flavour``: ``kubernetes`` or ``openshift``, with ``+cache`` for an engine whose status cache
    has LISTed the Jobs and pods in scope (the recorded Job, or none if its GET fails, and the
    recorded pods) before the test's calls.  ``calls`` are those made after that.
    """

    def __init__(self, flavour, *, job=None, pods=None, events=None, create=None, delete=None, log=None,
                 results=None, now=0.0):
        self.results = results or Results()
        self.now = now
        self.flavour, _, mode = flavour.partition("+")
        self.cached = mode == "cache"
        if self.cached:  # the cache finds objects by name: give the recorded ones the jid asked for
            job, pods, events = (_as_jid(job), _as_jid(pods), _as_jid(events))
        log = log or (lambda pod, ns, container=None, **kw: LOGS[container])
        answers = dict(job=job, pods=pods if pods is not None else recorded(NO_PODS),
                       events=events if events is not None else {"kind": "EventList", "items": []},
                       create=create or recorded("create-job/job.json"),
                       delete=delete or recorded("delete-job/delete-response.json"), log=log,
                       jobs=_job_list(job))
        if self.flavour == "kubernetes":
            self.batch = FakeBatchV1Api(create=answers["create"], read=answers["job"], delete=answers["delete"],
                                        list_jobs=answers["jobs"])
            self.core = FakeCoreV1Api(list_pods=answers["pods"], list_events=answers["events"], log=answers["log"])
            api = kube.ClientApi(self.batch, self.core)
            cls = kube.KubernetesEngine
        else:
            self.jobs = FakeResource(create=_dyn(answers["create"]), get=answers["job"], delete=answers["delete"],
                                     list=answers["jobs"])
            self.pods = FakeResource(get=answers["pods"])
            self.events = FakeResource(get=answers["events"])
            self.core = FakeCoreV1Api(log=answers["log"])
            api = osh.DynamicApi(FakeDynamicClient(self.jobs, self.pods, self.events), core=self.core)
            cls = osh.OpenShiftEngine
        self.engine = cls(api, SETTINGS, result_reader=self.results.read, result_writer=self.results.write,
                          clock=lambda: self.now, monotonic=lambda: self.now)
        self.synced_at = {}
        if self.cached:
            cache = StatusCache(api, SETTINGS, clock=lambda: self.now)
            for informer in (cache.jobs, cache.pods):
                try:
                    informer.relist()
                except Exception:  # e.g. the API unreachable: not synced, status reads go to the API
                    pass
            self.engine.start(cache)
            self.synced_at = {what: len(self.calls(what, since_sync=False))
                              for what in ("create", "read", "delete", "pods", "events", "jobs")}

    def calls(self, what, since_sync=True):
        """Recorded calls of ``create``/``read``/``delete``/``pods``/``events``/``jobs`` (LIST) as
        (args, kwargs), made after the cache's first LIST."""
        if self.flavour == "kubernetes":
            api, method = {"create": (self.batch, "create"), "read": (self.batch, "read"),
                           "delete": (self.batch, "delete"), "pods": (self.core, "list_pods"),
                           "events": (self.core, "list_events"), "jobs": (self.batch, "list_jobs")}[what]
        else:
            api, method = {"create": (self.jobs, "create"), "read": (self.jobs, "get"),
                           "delete": (self.jobs, "delete"), "pods": (self.pods, "get"),
                           "events": (self.events, "get"), "jobs": (self.jobs, "list")}[what]
        calls = api.called(method)
        return calls[self.synced_at.get(what, 0):] if since_sync else calls


def _as_jid(answer):
    """Derived for the cached runs: a recorded answer whose Job (its name, its pods' ``jid`` label,
    its Events' ``involvedObject.name``) is the test's JID.  The direct runs need no such renaming:
    their fakes answer a GET of any name with the recorded Job."""
    if not isinstance(answer, Response):
        return answer
    body = json.loads(answer.data)
    for obj in body.get("items") or [body]:
        meta = obj.get("metadata") or {}
        if obj.get("kind", body.get("kind")) in ("Job", "JobList"):
            meta["name"] = JID
        if isinstance(meta.get("labels"), dict) and "jid" in meta["labels"]:
            meta["labels"]["jid"] = JID
        involved = obj.get("involvedObject") or {}
        if involved.get("kind") == "Job":
            involved["name"] = JID
    renamed = Response(body, answer.status)
    renamed.headers = answer.headers
    return renamed


def _job_list(job):
    """The LIST of Jobs in scope that matches a GET answer: the Job, none (404), or the same error."""
    if isinstance(job, Response):
        return listing("JobList", [json.loads(job.data)], "1000")
    if isinstance(job, BaseException) and getattr(job, "status", None) != 404:
        return job
    return listing("JobList", [], "1000")


def _dyn(answer):
    if callable(answer) and not isinstance(answer, (Response, BaseException)):
        return lambda body=None, namespace=None, **kw: answer(namespace, body, **kw)
    return answer


def scenario(flavour, folder, job="job.json", pods="pods.json", events=None, after=0.0, **kwargs):
    """The engine over ``folder``'s recordings, its clock ``after`` seconds past the Job's creation."""
    created = status.epoch(load(f"{folder}/{job}")["metadata"]["creationTimestamp"])
    return Cluster(flavour, job=recorded(f"{folder}/{job}"), pods=recorded(f"{folder}/{pods}"),
                   events=recorded(f"{folder}/{events}") if events else None, now=created + after, **kwargs)
