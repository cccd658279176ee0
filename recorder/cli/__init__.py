"""The `recorder` command: parses options, calls recorder.api, prints tables or JSON."""
