"""The queue folder staff write into: read, validate, hash (content_queue/README.md).

The package touches only files; the database side (scan cache, posts,
versions) lives in ``services.ingest``, which injects a :class:`ScanCache`.
"""

from __future__ import annotations

from .dates import ACCEPTED_FORMS, DateReading, format_datetime, read_datetime
from .decode import MAX_TEXT_BYTES, DecodeError, decode_text
from .parser import FIELDS, PostText, fold, interpret, parse_publish_at, parse_text
from .scanner import (
    IMAGE_EXTENSIONS,
    TEXT_FILE_NAMES,
    BytesImageCheck,
    CachedScan,
    CheckedPost,
    ImageCheck,
    ImageRef,
    MemoryScanCache,
    Previous,
    QueueScan,
    ScanCache,
    ScannedPost,
    ScanOptions,
    evaluate,
    evaluate_all,
    folder_signature,
    format_local,
    header_approver,
    list_queue,
    missing_queue_problem,
    read_folder,
    scan_queue,
)

__all__ = [
    "ACCEPTED_FORMS",
    "FIELDS",
    "IMAGE_EXTENSIONS",
    "MAX_TEXT_BYTES",
    "TEXT_FILE_NAMES",
    "BytesImageCheck",
    "CachedScan",
    "CheckedPost",
    "DateReading",
    "DecodeError",
    "ImageCheck",
    "ImageRef",
    "MemoryScanCache",
    "PostText",
    "Previous",
    "QueueScan",
    "ScanCache",
    "ScanOptions",
    "ScannedPost",
    "decode_text",
    "evaluate",
    "evaluate_all",
    "fold",
    "folder_signature",
    "format_datetime",
    "format_local",
    "header_approver",
    "interpret",
    "list_queue",
    "missing_queue_problem",
    "parse_publish_at",
    "parse_text",
    "read_datetime",
    "read_folder",
    "scan_queue",
]
