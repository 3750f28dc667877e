"""What a finished rehearsal says: the verdict, the console lines, JUnit XML, and
the report (JSON, Markdown, charts)."""
