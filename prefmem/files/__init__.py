"""File storage: the ``_storage`` table, upload URLs, ``ctx.storage`` and serving files.

Bytes live on disk next to the database (``<data dir>/storage/<storage id>``); their
metadata lives in the ``_storage`` system table, which is the truth: a file is served only
while its document exists, so deleting the document makes its URL answer 404 at once,
even before the bytes are removed from disk.

Upload tokens are rows of ``_upload_tokens``: random, expiring, and deleted by the upload
that uses them, in the same transaction that records the file, so each works once, and
survives a restart as long as it has not expired. A token belongs to the user whose
function asked for its URL (each holds a bounded number); the file it brings records that
user in ``_storage_uploaders`` (``ctx.storage.uploaded_by``). An upload is checked against
its token before any byte is written, and capped in size. ``serving`` says how files are
served so that none runs as active content.
"""
