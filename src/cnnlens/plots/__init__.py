"""matplotlib figures for the report, one module per section; functions take arrays or tables and return a Figure."""
