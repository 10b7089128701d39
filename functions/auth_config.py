"""Auth providers of Preference Memory: the built-in password provider (prefmem/auth/password.py).

The web page (web/) signs shoppers up and in through /api/auth/signup and /api/auth/signin
and hands the access token to the convex client with ``client.setAuth``.
"""

providers = [
    {"type": "password"},
]
