"""The report writers: the JSON report and what renders it (terminal table, Markdown, HTML, JUnit properties)."""
