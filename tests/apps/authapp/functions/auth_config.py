"""Auth providers of the test app.

The built-in password provider is always on; the tests turn on a custom JWT issuer
(an inline data: URI JWKS) and an OIDC issuer served on 127.0.0.1 through environment
variables, since their keys and port exist only while a test runs.
"""

import os

providers = [
    {"type": "password", "applicationID": "authapp", "maxFailedSignIns": 3, "lockoutSeconds": 60},
    # Broken on purpose (its JWKS data: URI cannot be read): every other provider must keep
    # working, and only tokens for this issuer are refused.
    {"type": "customJwt", "issuer": "https://broken.authapp.test", "jwks": "data:application/json;base64,%%%",
     "algorithm": "RS256"},
]

if os.environ.get("AUTHAPP_JWT_ISSUER"):
    providers.append({
        "type": "customJwt",
        "issuer": os.environ["AUTHAPP_JWT_ISSUER"],
        "jwks": os.environ["AUTHAPP_JWT_JWKS"],
        "algorithm": "RS256",
        "applicationID": "authapp",
    })

if os.environ.get("AUTHAPP_OIDC_DOMAIN"):
    providers.append({"domain": os.environ["AUTHAPP_OIDC_DOMAIN"], "applicationID": "authapp-oidc"})
