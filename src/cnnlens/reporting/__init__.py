"""The report: comparison statistics, captions, executed notebooks assembled into one HTML file."""
