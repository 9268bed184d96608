"""Submissions a class might hand in, as file texts: the package's solution, the starter
left as it is, each known mistake, and four broken files (a syntax error, one that raises,
one that loops forever, one that allocates without bound)."""

from __future__ import annotations

from deepnotes.exercises.base import Exercise, Mistake
from deepnotes.exercises.practice import starter_file


def solution(exercise: Exercise) -> str:
    ref = exercise.reference
    return f"from {ref.__module__} import {ref.__name__} as {exercise.entry}\n"


def with_mistake(exercise: Exercise, mistake: Mistake) -> str:
    """A file whose entry makes `mistake`: the mistaken implementation, or the package's
    own with the registered fault planted for the rest of the process."""
    if mistake.wrong is not None:
        wrong = mistake.wrong
        return f"from {wrong.__module__} import {wrong.__name__} as {exercise.entry}\n"
    return (
        "from deepnotes.registry import FAULTS\n\n"
        f"planted = FAULTS.create({mistake.name!r})  # kept: collected, it would unplant\n"
        "planted.__enter__()\n" + solution(exercise)
    )


def broken(exercise: Exercise) -> dict[str, str]:
    """The four broken files, by the reason the grader must give."""
    entry = exercise.entry
    return {
        "syntax": f"def {entry}(x:\n    return x\n",
        "raises": f"def {entry}(*args, **kwargs):\n    raise ValueError('not written yet')\n",
        "loops": f"def {entry}(*args, **kwargs):\n    while True:\n        pass\n",
        "hoards": (
            f"def {entry}(*args, **kwargs):\n    hoard = []\n    while True:\n"
            "        hoard.append(bytearray(2**24))\n"
        ),
    }


def class_folder(exercise: Exercise, name: str) -> dict[str, str]:
    """Every kind of submission for one exercise, by file name, but the infinite loop
    (which waits out its time limit: `test_an_infinite_loop_is_stopped_in_every_exercise`
    runs those side by side)."""
    files = {"solution.py": solution(exercise), "starter.py": starter_file(name)}
    for mistake in exercise.mistakes:
        files[f"mistake-{mistake.name}.py"] = with_mistake(exercise, mistake)
    files.update({f"broken-{why}.py": text for why, text in broken(exercise).items()})
    del files["broken-loops.py"]  # graded for every exercise at once, in parallel
    return files
