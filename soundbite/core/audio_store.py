"""Audio objects in S3: encrypted uploads and presigned GETs (the bucket is never public)."""

from __future__ import annotations

from soundbite import spec
from soundbite.core import aws
from soundbite.core.exceptions import DependencyUnavailable


class AudioStore:
    def __init__(self, bucket: str, client=None,
                 url_seconds: int = spec.PRESIGNED_URL_SECONDS) -> None:
        self.bucket = bucket
        self.url_seconds = url_seconds
        self._client = client

    client = aws.LazyClient("s3")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                ServerSideEncryption=spec.AUDIO_BUCKET.sse_algorithm,
            )
        except aws.AWS_ERRORS as exc:
            raise DependencyUnavailable("s3", f"upload failed ({aws.error_code(exc)})") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except aws.AWS_ERRORS as exc:
            raise DependencyUnavailable("s3", f"download failed ({aws.error_code(exc)})") from exc

    def presigned_url(self, key: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.url_seconds
        )
