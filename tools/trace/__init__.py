"""Tools that look at an IPC trace (`emu trace`): sequence charts, the interaction graph,
Perfetto timelines and message statistics.

`load` reads and checks a trace file, `model` turns its events into messages and marks,
and each output (`chart`, `graph`, `perfetto`, `stats`) reads only the model; `svg`
writes the pictures.  `command` is the CLI's `emu trace`; `pictures` draws the README's
pictures from real runs of the stock system and of the small systems in `demos/`.
"""
