"""The core both faces stand on: the synthesizer interface, its errors and audio formats."""
