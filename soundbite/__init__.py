"""SoundBite: the command-line face that ties the service, worker, infra and migration together."""
