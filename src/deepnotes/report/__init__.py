"""The report: one self-contained HTML page (no network) built from experiment Results."""

from deepnotes.report.html import write_report

__all__ = ["write_report"]
