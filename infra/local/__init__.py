"""The local data plane: the embedded AWS emulator and its bootstrap from the resource spec."""
