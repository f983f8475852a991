"""mlrail.sources.inference: a CSV text column of numbers or dates with a stray word is refused,
naming the word and its line, wherever the blocks are cut."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mlrail import sources
from mlrail.sources import read_table

from .helpers import read_error, write


def test_nan_spellings_among_numbers_are_numbers_for_the_stray_word_rule(tmp_path: Path) -> None:
    nums = "".join(f"{i}.5\n" for i in range(50))
    # pyarrow reads numbers and NaN spellings as floats
    ok = write(tmp_path / "ok.csv", f"x\n{nums}nan\n-NaN\ninf\n".encode())
    assert read_table(str(ok))[0].column("x").type == pa.float64()
    # a spelling pyarrow does not parse is a stray word among numbers: refused, named
    odd = write(tmp_path / "odd.csv", f"x\n{nums}1.#QNAN\n".encode())
    assert "holds numbers except for 1 value(s), first at line 52: '1.#QNAN'" in read_error(odd)
    # with real NaNs before it, the message names the word, not a NaN
    mixed = write(tmp_path / "m.csv", f"x\n{nums}nan\noops\n".encode())
    assert "first at line 53: 'oops'" in read_error(mixed)


def test_numbers_with_a_stray_word_are_refused_wherever_it_is(tmp_path: Path) -> None:
    rows = "".join(f"{i},a\n" for i in range(400))
    early = write(tmp_path / "e.csv", f"x,y\n7,b\nn/a-ish,b\n{rows}".encode())
    message = "column 'x' holds numbers except for 1 value(s), first at line 3: 'n/a-ish'"
    assert message in read_error(early, block_size=100)
    # a column of words with a few numbers is a category, not a typo
    codes = b"".join(b"A%d\n" % i for i in range(9))
    words = write(tmp_path / "w.csv", b"code\n" + codes + b"12\n")
    assert read_table(str(words))[0].column("code").type == pa.string()


def test_dates_with_a_stray_word_are_refused_wherever_it_is(tmp_path: Path) -> None:
    dates = "".join(f"2012-01-{d:02d},{d}\n" for d in range(1, 29))
    src = write(tmp_path / "d.csv", f"day,n\n{dates}soon,29\n".encode())
    # in one block pyarrow reads the column as text: the 90% rule names the word; past the
    # first block the column widens to text, and the same rule names it
    for size in (sources.BLOCK_SIZE, 64):
        message = "column 'day' holds dates except for 1 value(s), first at line 30: 'soon'"
        assert message in read_error(src, block_size=size)
    # a column of words with a few dates is text
    words = "".join(f"w{i},{i}\n" for i in range(20))
    fine = write(tmp_path / "w.csv", f"note,n\n{words}2012-01-01,1\n".encode())
    assert read_table(str(fine))[0].column("note").type == pa.string()


def test_dates_with_and_without_a_zone_in_one_column_are_refused_naming_both(
    tmp_path: Path,
) -> None:
    dates = "".join(f"2012-01-{d:02d},{d}\n" for d in range(1, 29))
    src = write(tmp_path / "z.csv", f"when,n\n{dates}2012-02-01T06:00:00Z,29\n".encode())
    for size in (sources.BLOCK_SIZE, 64):  # one block, or many
        assert (
            f"{src}: column 'when' holds ISO dates and times that cannot be read as one type: "
            "some with a time zone (first '2012-02-01T06:00:00Z'), some without (first "
            "'2012-01-01')"
        ) in read_error(src, block_size=size)
    bad = write(tmp_path / "b.csv", b"day\n2012-01-01\n2012-02-30\n")
    assert "not a real date or time (such as 2012-02-30)" in read_error(bad)
