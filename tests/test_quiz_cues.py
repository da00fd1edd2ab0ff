"""The choice questions cannot be passed by test-taking cues: the right answer is not usually the
longest option, and it does not usually sit in the same position.

Over all quizzes together, and over the module test alone:

* the right answer is the strictly longest choice in at most a third of the choice questions;
* no answer position (A, B, C, ...) holds more than 40% of the right answers.

The statistics are computed from the shipped ``quizzes/*.yml`` and printed, so a failure shows
the counts and the questions that carry the cue.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
QUIZZES = sorted((ROOT / "quizzes").glob("*.yml"))
MAX_LONGEST = 1 / 3
MAX_POSITION = 0.40


def choice_questions(paths):
    """(file name, question number from 1, choice lengths, right index) for every choice question."""
    rows = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for n, q in enumerate(data["questions"], 1):
            if q["type"] == "choice":
                rows.append((path.name, n, [len(c["text"].strip()) for c in q["choices"]], q["answer"]))
    return rows


def strictly_longest(lengths, answer):
    return all(lengths[answer] > x for j, x in enumerate(lengths) if j != answer)


def cue_report(rows):
    """The share of right answers that are strictly longest, the share of the busiest position,
    and the questions where the right answer is the longest."""
    longest = [(name, n) for name, n, lengths, answer in rows if strictly_longest(lengths, answer)]
    positions = Counter(answer for *_, answer in rows)
    return len(longest) / len(rows), max(positions.values()) / len(rows), longest, positions


def test_the_cue_checks_can_fail():
    """A quiz whose right answers are all the longest and all at B is caught on both counts."""
    rows = [("q.yml", i, [10, 90, 20, 30], 1) for i in range(6)]
    longest_share, position_share, longest, positions = cue_report(rows)
    assert longest_share == 1.0 > MAX_LONGEST and len(longest) == 6
    assert position_share == 1.0 > MAX_POSITION and positions == {1: 6}
    tied = [("q.yml", 1, [50, 50, 20], 0)]
    assert cue_report(tied)[0] == 0.0  # a tie is not strictly longest


@pytest.mark.parametrize("scope", ["all quizzes", "module test"])
def test_no_length_or_position_cue(scope):
    paths = QUIZZES if scope == "all quizzes" else [ROOT / "quizzes" / "module-test.yml"]
    rows = choice_questions(paths)
    assert len(rows) >= 3, f"{scope}: too few choice questions to judge ({len(rows)})"
    longest_share, position_share, longest, positions = cue_report(rows)
    print(
        f"{scope}: {len(rows)} choice questions; right answer strictly longest in {len(longest)} "
        f"({longest_share:.0%}); right answers by position "
        + ", ".join(f"{chr(65 + p)}: {c}" for p, c in sorted(positions.items()))
    )
    assert longest_share <= MAX_LONGEST, (
        f"{scope}: the right answer is the strictly longest choice in {len(longest)} of {len(rows)} "
        f"questions (more than a third): {longest}"
    )
    assert position_share <= MAX_POSITION, (
        f"{scope}: one position holds {position_share:.0%} of the right answers (more than 40%): {dict(positions)}"
    )
