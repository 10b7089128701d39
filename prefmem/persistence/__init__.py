"""Where documents are kept: one narrow interface (``base``) and its engines."""
