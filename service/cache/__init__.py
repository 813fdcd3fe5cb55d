"""Caching: an in-process LRU, an optional shared Redis layer, and the soundbite read-through."""

from service.cache.lru import CacheStats, LRUCache
from service.cache.redis_layer import RedisLayer
from service.cache.soundbites import CachedSoundbiteReader

__all__ = ["CacheStats", "CachedSoundbiteReader", "LRUCache", "RedisLayer"]
