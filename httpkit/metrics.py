"""Prometheus metrics for a Flask app: request counts, durations, errors, bytes and transfer times.

Each app gets its own registry, so several apps (tests) can live in one process.  With several
gunicorn workers each worker reports its own numbers; the services run one worker by default.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    errors: Counter
    bytes_total: Counter
    transfer_seconds: Histogram

    def observe_transfer(self, direction: str, seconds: float, nbytes: int) -> None:
        """Record one finished push ("in") or pull ("out")."""
        self.transfer_seconds.labels(direction=direction).observe(seconds)
        self.bytes_total.labels(direction=direction).inc(nbytes)


def _make(service: str) -> Metrics:
    reg = CollectorRegistry()
    return Metrics(
        registry=reg,
        requests=Counter(f"{service}_requests", "HTTP requests", ["method", "endpoint", "status"], registry=reg),
        duration=Histogram(f"{service}_request_duration_seconds", "Time to produce a response",
                           ["method", "endpoint"], registry=reg),
        errors=Counter(f"{service}_errors", "Responses with status >= 400", ["endpoint", "status"], registry=reg),
        bytes_total=Counter(f"{service}_transfer_bytes", "Payload bytes transferred", ["direction"], registry=reg),
        transfer_seconds=Histogram(f"{service}_transfer_duration_seconds", "Duration of whole transfers",
                                   ["direction"], registry=reg,
                                   buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)),
    )


def instrument(app: flask.Flask, service: str) -> Metrics:
    """Count every request of ``app`` and serve the numbers at ``GET /metrics``."""
    metrics = _make(service)

    @app.before_request
    def _start_timer():
        flask.g.httpkit_t0 = time.perf_counter()

    @app.after_request
    def _record(response):
        # The rule, not the raw path, keeps label cardinality bounded (jids are in paths).
        endpoint = flask.request.url_rule.rule if flask.request.url_rule else "unmatched"
        method = flask.request.method
        metrics.requests.labels(method, endpoint, str(response.status_code)).inc()
        t0 = flask.g.get("httpkit_t0")
        if t0 is not None:
            metrics.duration.labels(method, endpoint).observe(time.perf_counter() - t0)
        if response.status_code >= 400:
            metrics.errors.labels(endpoint, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def _metrics():
        return flask.Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    app.extensions["httpkit.metrics"] = metrics
    return metrics
