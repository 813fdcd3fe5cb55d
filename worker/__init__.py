"""The SoundBite worker: turns queued jobs into speech in S3.

`handler` processes one job, `batch` turns its exceptions into per-message results, `poller`
is the SQS loop behind `soundbite worker`, `lambda_handler` the Lambda entry, `redrive` the
DLQ tooling behind `soundbite dlq`, and `synth` the speech engines.
"""
