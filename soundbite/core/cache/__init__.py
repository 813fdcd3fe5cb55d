"""Caching: an in-process LRU, an optional shared Redis layer, and the soundbite read-through."""

from soundbite.core.cache.lru import CacheStats, LRUCache
from soundbite.core.cache.redis_layer import RedisLayer
from soundbite.core.cache.soundbites import CachedSoundbiteReader, background_refresher

__all__ = ["CacheStats", "CachedSoundbiteReader", "LRUCache", "RedisLayer", "background_refresher"]
