import pytest

from fanout.errors import InputError
from fanout.jobs import CANCELLED, SPLIT, SPLIT_STOPPED, Job
from fanout.thresholds import MIN_ROWS_METADATA, PERCENT_METADATA, FailureThreshold


def test_a_job_halts_only_past_the_minimum_rows_and_the_percent() -> None:
    threshold = FailureThreshold(percent=10, min_rows=500)
    assert threshold.breach(posted=0, failed=499) is None  # too few rows to judge
    assert threshold.breach(posted=88, failed=412) == "412 of 500 rows failed: 82% > 10%"
    assert threshold.breach(posted=450, failed=50) is None  # exactly 10% does not exceed it
    assert FailureThreshold(100, 1).breach(posted=0, failed=1000) is None  # 100%: never


def test_a_files_metadata_overrides_the_stacks_threshold() -> None:
    base = FailureThreshold(10, 100)
    assert base.overridden_by({PERCENT_METADATA: "50", MIN_ROWS_METADATA: "7"}) == FailureThreshold(50, 7)
    assert base.overridden_by({}) is base
    with pytest.raises(InputError, match=r"outside 0\.\.100"):
        base.overridden_by({PERCENT_METADATA: "150"})
    with pytest.raises(InputError, match="whole number"):
        base.overridden_by({MIN_ROWS_METADATA: "many"})


def job(**fields: object) -> Job:
    base: dict[str, object] = dict(
        job_id="j",
        bucket="b",
        key="k",
        version="v",
        split_state=SPLIT,
        rows_total=10,
        rows_posted=4,
        rows_failed=0,
        rows_rejected=0,
        created_at="",
        updated_at="",
        started=0.0,
        finished=None,
        error="",
    )
    return Job(**{**base, **fields})  # type: ignore[arg-type]


def test_a_stopped_job_is_finished_once_its_cancelled_rows_make_up_the_rest() -> None:
    assert job(control=CANCELLED, rows_cancelled=5).state == "cancelled"
    assert not job(control=CANCELLED, rows_cancelled=5).is_finished  # a row still in flight
    assert job(control=CANCELLED, rows_cancelled=6, split_state=SPLIT_STOPPED).is_finished
    # resumed: its cancelled rows are waiting to be posted, not settled
    resumed = job(rows_cancelled=6)
    assert (resumed.state, resumed.is_finished) == ("running", False)
