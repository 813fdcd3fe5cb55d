"""The SoundBite application: domain, AWS adapters and the Flask API (service.api)."""
