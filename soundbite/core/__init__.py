"""What the API and the worker both stand on: the domain, the AWS adapters, idempotency, the
cache, config, logs and metrics, and the synthesizer interface. Imports neither face."""
