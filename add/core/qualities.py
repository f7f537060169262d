"""Which video qualities a run uses, derived from the teacher's: ``teacher.quality`` (raw | c23, default raw).

The paper's teacher sees raw (lossless) crops and its students c23 or c40. Most FF++ users never download raw
(about 1.5 TB; c23 and c40 together about a hundredth of it), so a teacher may see c23 instead: the same method one
step down, distilling into a c40 student. A student always sees a lower quality than its teacher, and nothing
better than the teacher's quality is ever indexed, downloaded, extracted or sharded: the qualities in use are
those of ``data.qualities`` at or below the teacher's.

Pure functions of explicit arguments (no params reading, nothing heavy imported): every stage may import this.
"""

from __future__ import annotations

from collections.abc import Iterable

from add.core.errors import ParamsError
from add.core.layout import QUALITIES

TEACHER_QUALITIES = ("raw", "c23")  # a c40 teacher would leave no lower quality for a student
DEFAULT_TEACHER_QUALITY = "raw"


def rank(quality: str) -> int:
    """0 for raw, 1 for c23, 2 for c40: higher is more compressed."""
    if quality not in QUALITIES:
        raise ParamsError(f"unknown quality {quality!r}; choose from {list(QUALITIES)}")
    return QUALITIES.index(quality)


def check_teacher_quality(quality: str, *, key: str = "teacher.quality") -> str:
    if quality not in TEACHER_QUALITIES:
        raise ParamsError(f"params '{key}' must be one of {list(TEACHER_QUALITIES)}, got {quality!r}")
    return quality


def student_qualities(teacher: str) -> tuple[str, ...]:
    """The qualities a student of a ``teacher``-quality teacher may see: every one strictly below it."""
    check_teacher_quality(teacher)
    return tuple(q for q in QUALITIES if rank(q) > rank(teacher))


def check_student_quality(teacher: str, student: str, *, key: str = "student quality") -> str:
    """``student`` when it is lower than the teacher's quality; else a clear error saying what is allowed."""
    allowed = student_qualities(teacher)
    if student not in allowed:
        raise ParamsError(f"{key} {student!r} is not lower than teacher.quality {teacher!r}: a student must see a "
                          f"lower quality than its teacher (allowed: {list(allowed)}); set teacher.quality: raw "
                          f"for a {student} student, or train the student on {allowed[-1]}")
    return student


def qualities_in_use(teacher: str, listed: Iterable[str]) -> tuple[str, ...]:
    """Of the ``listed`` qualities (``data.qualities``), those at or below the teacher's, in the order raw, c23,
    c40."""
    check_teacher_quality(teacher)
    listed = set(listed)
    return tuple(q for q in QUALITIES if q in listed and rank(q) >= rank(teacher))


def check_test_quality(teacher: str, quality: str, *, key: str = "test quality") -> str:
    """A quality to evaluate on: at or below the teacher's (nothing better is extracted)."""
    if rank(quality) < rank(teacher):
        raise ParamsError(f"{key} {quality!r} is better than teacher.quality {teacher!r}: with a {teacher} teacher "
                          f"no {quality} video is ever read (choose from {[teacher, *student_qualities(teacher)]})")
    return quality

