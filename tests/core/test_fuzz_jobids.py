from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core.jobids import JOB_ID_RE, JobIdParse, parse_job_ids

from .fuzzing import fuzz
from .strategies import chat_text, job_ids, separators


def check_invariants(parsed: JobIdParse, max_jobs: int) -> None:
    assert all(JOB_ID_RE.match(i) for i in parsed.ids)
    assert len(set(parsed.ids)) == len(parsed.ids)
    assert set(parsed.duplicates) <= set(parsed.ids)
    assert parsed.too_many == (len(parsed.ids) > max_jobs)
    assert parsed.ok == (parsed.problems() == [])
    assert all(why for _, why in parsed.invalid)


@fuzz
@given(chat_text, st.integers(min_value=1, max_value=5))
def test_never_raises_and_keeps_its_invariants(text: str, max_jobs: int) -> None:
    check_invariants(parse_job_ids(text, max_jobs=max_jobs), max_jobs)


@fuzz
@given(st.lists(st.text(alphabet=",;\n\t \"'`job_idJOB" + "0123456789abc-"), max_size=20))
def test_csv_like_text_never_raises(lines: list[str]) -> None:
    check_invariants(parse_job_ids("\n".join(lines), max_jobs=10), 10)


@fuzz
@given(
    st.lists(st.tuples(job_ids, st.booleans()), min_size=1, max_size=30),
    st.data(),
)
def test_valid_ids_round_trip(items: list[tuple[str, bool]], data: st.DataObject) -> None:
    parts: list[str] = []
    for job_id, shout in items:
        parts.append(job_id.upper() if shout else job_id)
        parts.append(data.draw(separators))
    parsed = parse_job_ids("".join(parts), max_jobs=1000)
    expected = tuple(dict.fromkeys(job_id for job_id, _ in items))
    assert parsed.ids == expected
    assert parsed.invalid == ()
    assert parsed.ok
    assert len(parsed.duplicates) == len(
        {i for i, _ in items if [j for j, _ in items].count(i) > 1}
    )


def test_huge_input() -> None:
    ids = [f"{i:08d}-aaaa-bbbb-cccc-{i:012d}" for i in range(20_000)]
    parsed = parse_job_ids("\n".join(ids + ids[:100]), max_jobs=1000)
    assert parsed.too_many
    assert len(parsed.ids) == 20_000
    assert len(parsed.duplicates) == 100
    junk = parse_job_ids("é,\u0000;" * 50_000 + "x" * 200_000, max_jobs=1000)
    assert junk.ids == ()
    assert not junk.ok
