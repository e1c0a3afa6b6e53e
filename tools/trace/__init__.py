"""Tools that look at an IPC trace (`emu trace`): sequence charts, the interaction graph,
Perfetto timelines, message statistics and the messages of each user call.

`load` reads and checks a trace file; `pairing` turns its events into the `model`
(messages and marks), with `timeline` (what each process did between its CPU slices);
each output (`chart`, `graph`, `perfetto`, `stats` with `calls`) reads only the model;
`svg` writes the pictures.  `command` is the CLI's `emu trace`; `pictures` draws the
README's pictures from real runs of the stock OS and of the small systems in `demos/`.
"""
