"""The local rehearsal: a whole migration on one machine, with faults, as the main job."""
