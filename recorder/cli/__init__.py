"""The `recorder` command: parses options, calls recorder.api, prints tables or JSON.

Owns: the command group and its lazy command map (main.py), the per-invocation context that opens
the store on first use (context.py), one module of commands per area (`*_commands.py`), and how
answers are printed (output.py, live_view.py) and how failures read (errors.py).
May import: everything below it: recorder.api first; report, analytics, replay, stream, demo,
store and model for types, printing and the names of errors. Nothing imports the CLI.
"""
