"""pman's mount-mode publish takes pfioh's key lock: a pull in progress keeps its output whole."""
import io
import threading

from pman.engines.local import runner
from safearchive import locks


def _job_with_output(tmp_path, text):
    job = tmp_path / "job"
    (job / "outgoing").mkdir(parents=True)
    (job / "outgoing" / "result.txt").write_text(text)
    return job


def test_the_publish_waits_for_a_pull_holding_the_key_and_then_swaps_whole(tmp_path):
    store = tmp_path / "store"
    (store / "key-jid1" / "outgoing").mkdir(parents=True)
    (store / "key-jid1" / "outgoing" / "result.txt").write_text("old")
    keylocks = locks.for_store(store)
    pull = keylocks.acquire("jid1", shared=True)  # as pfioh's pull holds it while it streams
    done = threading.Event()
    publisher = threading.Thread(target=lambda: (runner.mount_put(str(store), "jid1", _job_with_output(
        tmp_path, "new"), io.StringIO()), done.set()))
    publisher.start()
    try:
        assert not done.wait(1.0)  # still waiting for the pull
        assert (store / "key-jid1" / "outgoing" / "result.txt").read_text() == "old"
    finally:
        keylocks.release(pull, "jid1")
    publisher.join(30)
    assert done.is_set() and (store / "key-jid1" / "outgoing" / "result.txt").read_text() == "new"
    assert list((store / ".pfioh-staging" / "locks").iterdir()) == []  # no lock file left behind


def test_a_publish_that_cannot_get_the_lock_fails_and_leaves_the_old_output(tmp_path, monkeypatch):
    import pytest
    monkeypatch.setattr(runner, "LOCK_TIMEOUT", 0.05)
    store = tmp_path / "store"
    (store / "key-jid2" / "outgoing").mkdir(parents=True)
    (store / "key-jid2" / "outgoing" / "result.txt").write_text("old")
    keylocks = locks.for_store(store)
    held = keylocks.acquire("jid2")
    try:
        with pytest.raises(locks.LockTimeout):
            runner.mount_put(str(store), "jid2", _job_with_output(tmp_path, "new"), io.StringIO())
    finally:
        keylocks.release(held, "jid2")
    assert [p.name for p in (store / "key-jid2").iterdir()] == ["outgoing"]  # no staged leftovers
    assert (store / "key-jid2" / "outgoing" / "result.txt").read_text() == "old"
