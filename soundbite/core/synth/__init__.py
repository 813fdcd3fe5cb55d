"""The core both faces stand on: the synthesizer interface, its errors, audio formats, and the
catalog of each engine's voices and formats (catalog.py) the API offers and the worker speaks."""
