"""deepnotes: a deep-learning course as runnable, tested code.

Each concept of the course is written by hand as the lesson and checked
against the well-kept library that does the same job. Start with
`deepnotes tour`, or import a piece and read its source.
"""

__version__ = "0.1.0"
