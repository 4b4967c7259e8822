"""LocalSettings: the local engine's own settings, validated once (the service config names the flag)."""
import pytest

from pman.engines import base
from pman.engines.local.settings import LocalSettings


@pytest.mark.parametrize("values,field", [
    ({"max_jobs": 0}, "max_jobs"),
    ({"log_tail_bytes": -1}, "log_tail_bytes"),
    ({"swift_layout": "zip"}, "swift_layout"),
    ({"workdir": ""}, "workdir"),
    ({"store_base": ""}, "store_base"),
])
def test_a_bad_value_names_its_field(values, field):
    with pytest.raises(base.SettingError) as e:
        LocalSettings(**{"workdir": "/w", **values}).validate()
    assert e.value.field == field


def test_paths_of_the_job_table_and_work_dirs():
    s = LocalSettings(workdir="/w").validate()
    assert (str(s.jobs_dir), str(s.db_path)) == ("/w/jobs", "/w/pman.sqlite")
