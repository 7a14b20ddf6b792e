"""The composition root: the `learnstream` command line and what only it assembles (the
worker supervisor, the demo, the smoke round trip, the benchmark). It sits on top of every
layer: the core (`learnstream/`), `streams/`, `sinks/` and `connectors/` never import it
(ADR 0011, enforced by import-linter in `make lint`)."""
