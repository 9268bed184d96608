"""The report: the course book, one page per syllabus topic (no network), from experiment
Results."""

from deepnotes.report.book import write_report

__all__ = ["write_report"]
